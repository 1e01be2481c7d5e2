package check

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"filelock"
)

// entry is one event of a project's log as the subscribers saw it.
type entry struct {
	ev        filelock.Event
	sig       string
	firstSeen time.Time
}

// plog is a project's log: the events any subscriber received, by id.
type plog struct {
	bySeq map[uint64]*entry
	seqs  []uint64 // sorted
}

func signature(ev filelock.Event) string {
	switch ev.Type {
	case filelock.EventLockAcquired:
		return fmt.Sprintf("acquired %q %q %d %d", ev.Lock.File, ev.Lock.User, ev.Lock.Token, ev.Lock.ExpiresAt.UnixMilli())
	case filelock.EventLockReleased:
		return fmt.Sprintf("released %q %q %d %s", ev.Lock.File, ev.Lock.User, ev.Lock.Token, ev.Reason)
	default:
		return fmt.Sprintf("%s %q", ev.Type, ev.User)
	}
}

// checkStreams checks each subscriber's stream on its own (it starts with a
// snapshot, ids only grow) and against the others (one id is one event, no
// event another subscriber got is skipped without a snapshot, unless the
// store may have lost it), and returns each project's log.
func checkStreams(r *Report, subs map[int]*sub, faults []Fault) map[string]*plog {
	logs := map[string]*plog{}
	ids := make([]int, 0, len(subs))
	for id := range subs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		s := subs[id]
		l := logs[s.project]
		if l == nil {
			l = &plog{bySeq: map[uint64]*entry{}}
			logs[s.project] = l
		}
		for i, rc := range s.events {
			ev := rc.Event
			if ev.ProjectID != s.project {
				r.violate("%s: subscriber %d got an event of project %q", s.project, id, ev.ProjectID)
			}
			if ev.Seq >= 1<<53 {
				r.violate("%s: event id %d not below 2^53", s.project, ev.Seq)
			}
			if i == 0 && ev.Type != filelock.EventSnapshot {
				r.violate("%s: subscriber %d's stream starts with %s, not a snapshot", s.project, id, ev.Type)
			}
			if i > 0 {
				prev := s.events[i-1].Event
				switch {
				case ev.Type == filelock.EventSnapshot && ev.Seq < prev.Seq && lossBetween(faults, s.events[i-1].At, rc.At):
					// After lost writes the store's position may be below
					// what the stream had seen; the SPEC does not say the
					// snapshot must jump above it. Reported, not failed.
					r.warn("%s: subscriber %d got a snapshot id %d below the id %d it had seen, after the store lost writes", s.project, id, ev.Seq, prev.Seq)
				case ev.Seq < prev.Seq || (ev.Seq == prev.Seq && ev.Type != filelock.EventSnapshot):
					r.violate("%s: subscriber %d got %s id %d after id %d: ids went down or repeated", s.project, id, ev.Type, ev.Seq, prev.Seq)
				}
			}
			if ev.Type == filelock.EventSnapshot {
				continue
			}
			sig := signature(ev)
			if e, ok := l.bySeq[ev.Seq]; ok {
				if e.sig != sig {
					r.violate("%s: event id %d is %s for one subscriber and %s for another: an id was reissued", s.project, ev.Seq, e.sig, sig)
				}
				if rc.At.Before(e.firstSeen) {
					e.firstSeen = rc.At
				}
			} else {
				l.bySeq[ev.Seq] = &entry{ev: ev, sig: sig, firstSeen: rc.At}
			}
		}
	}
	for _, l := range logs {
		for seq := range l.bySeq {
			l.seqs = append(l.seqs, seq)
		}
		slices.Sort(l.seqs)
	}
	// No skipped events: between two consecutive events of a stream (the
	// later not a snapshot), the log has nothing a subscriber saw, unless
	// the store may have lost it meanwhile.
	for _, id := range ids {
		s := subs[id]
		l := logs[s.project]
		for i := 1; i < len(s.events); i++ {
			a, b := s.events[i-1], s.events[i]
			if b.Event.Type == filelock.EventSnapshot {
				continue
			}
			lo, _ := slices.BinarySearch(l.seqs, a.Event.Seq+1)
			for _, seq := range l.seqs[lo:] {
				if seq >= b.Event.Seq {
					break
				}
				e := l.bySeq[seq]
				if !lossBetween(faults, e.firstSeen, b.At) {
					r.violate("%s: subscriber %d skipped event %d (%s) between %d and %d without a snapshot", s.project, id, seq, e.sig, a.Event.Seq, b.Event.Seq)
				}
			}
		}
	}
	return logs
}

type lockKey struct {
	file  string
	token int64
}

// checkEvents checks the events against the operations and the bounds:
// every acquisition and release the clients were told of has its event;
// each lock is acquired and released once; an expired lock is released
// never before its expires_at and within the bound; each subscriber's
// snapshot + events end at the project's final /status.
func checkEvents(r *Report, ops []Op, subs map[int]*sub, logs map[string]*plog, faults []Fault, final map[string]Output, b Bounds) {
	type find struct {
		project, typ string
		key          lockKey
	}
	index := map[find][]*entry{}
	for project, l := range logs {
		for _, seq := range l.seqs {
			e := l.bySeq[seq]
			k := find{project, e.ev.Type, lockKey{e.ev.Lock.File, e.ev.Lock.Token}}
			index[k] = append(index[k], e)
		}
	}
	// covered reports whether every subscriber of the project got an event
	// matching ok, or a snapshot after the operation's call (which stands
	// for what it missed); it names a subscriber that got neither.
	covered := func(project string, call time.Time, ok func(filelock.Event) bool) (int, bool) {
		for id, s := range subs {
			if s.project != project || len(s.events) == 0 || s.events[0].At.After(call) {
				continue
			}
			got := false
			for i, rc := range s.events {
				if ok(rc.Event) || (i > 0 && rc.Event.Type == filelock.EventSnapshot && !rc.At.Before(call)) {
					got = true
					break
				}
			}
			if !got {
				return id, false
			}
		}
		return 0, true
	}
	isEvent := func(typ, file string, token int64, reason string) func(filelock.Event) bool {
		return func(ev filelock.Event) bool {
			return ev.Type == typ && ev.Lock.File == file && ev.Lock.Token == token && (reason == "" || ev.Reason == reason)
		}
	}
	// Operations → events.
	// The expiry of a lock is what its last setter (the acquisition, a
	// renewing lock or claim, a heartbeat) answered; a renewal may shorten
	// it. Setters whose calls overlap the last one may have run in either
	// order: the expiry is between the least and the greatest they answered.
	setters := map[find][]Op{}
	extendedUnknown := map[string]time.Time{} // project/user → earliest unknown extension
	note := func(project string, v *View, by Op) {
		if v == nil || v.Exp.IsZero() {
			return
		}
		k := find{project, "", lockKey{v.File, v.Token}}
		setters[k] = append(setters[k], by)
	}
	expiry := func(k find) (lo, hi time.Time, by Op, ok bool) {
		ss := setters[k]
		if len(ss) == 0 {
			return lo, hi, by, false
		}
		last := ss[0]
		for _, s := range ss {
			if s.Return.After(last.Return) {
				last = s
			}
		}
		for _, s := range ss {
			if s.Return.Before(last.Call) {
				continue
			}
			e := s.Output.Lock.Exp
			if lo.IsZero() || e.Before(lo) {
				lo, by = e, s
			}
			if e.After(hi) {
				hi = e
			}
		}
		return lo, hi, by, true
	}
	for _, op := range ops {
		in, out := op.Input, op.Output
		p := in.Project
		if out.Unknown {
			if in.Kind == KHeartbeat || in.Kind == KLock || in.Kind == KClaim {
				k := p + "\x00" + in.User
				if t, ok := extendedUnknown[k]; !ok || op.Call.Before(t) {
					extendedUnknown[k] = op.Call
				}
			}
			continue
		}
		if out.Code == "" && (in.Kind == KLock || in.Kind == KClaim || in.Kind == KHeartbeat) {
			note(p, out.Lock, op)
		}
		if out.Code != "" || lossAfter(faults, op.Call) {
			continue
		}
		switch in.Kind {
		case KLock, KClaim:
			if l := out.Lock; !out.Renewed && l != nil {
				if id, ok := covered(p, op.Call, isEvent(filelock.EventLockAcquired, l.File, l.Token, "")); !ok {
					r.violate("%s: %s of %q gave token %d but subscriber %d got neither its lock_acquired nor a snapshot after it", p, in.Kind, l.File, l.Token, id)
				}
			}
			if rel := out.Released; rel != nil {
				if id, ok := covered(p, op.Call, isEvent(filelock.EventLockReleased, rel.File, rel.Token, filelock.ReasonSwitched)); !ok {
					r.violate("%s: %s released %q token %d but subscriber %d got neither its lock_released (switched) nor a snapshot after it", p, in.Kind, rel.File, rel.Token, id)
				}
			}
		case KUnlock:
			reason := filelock.ReasonUnlocked
			if in.Force {
				reason = filelock.ReasonForced
			}
			if l := out.Lock; l != nil {
				if id, ok := covered(p, op.Call, isEvent(filelock.EventLockReleased, l.File, l.Token, reason)); !ok {
					r.violate("%s: unlock of %q token %d answered but subscriber %d got neither its lock_released (%s) nor a snapshot after it", p, l.File, l.Token, id, reason)
				}
			}
		}
	}
	// Once each; expiry on time; every lock released in the end.
	for k, es := range index {
		for i := 1; i < len(es); i++ {
			if !lossBetween(faults, es[i-1].firstSeen, es[i].firstSeen) {
				r.violate("%s: %s of %q token %d twice (event ids %d and %d)", k.project, k.typ, k.key.file, k.key.token, es[i-1].ev.Seq, es[i].ev.Seq)
			}
		}
	}
	for k, es := range index {
		switch k.typ {
		case filelock.EventLockAcquired:
			if final != nil && len(index[find{k.project, filelock.EventLockReleased, k.key}]) == 0 && !lossAfter(faults, es[0].firstSeen) {
				r.violate("%s: %q token %d acquired (event %d) and never released", k.project, k.key.file, k.key.token, es[0].ev.Seq)
			}
		case filelock.EventLockReleased:
			e := es[0]
			acq := index[find{k.project, filelock.EventLockAcquired, k.key}]
			if len(acq) > 0 && acq[0].ev.Seq > e.ev.Seq {
				r.violate("%s: %q token %d released (event %d) before it was acquired (event %d)", k.project, k.key.file, k.key.token, e.ev.Seq, acq[0].ev.Seq)
			}
			if e.ev.Reason != filelock.ReasonExpired {
				continue
			}
			exp, expHi, by, ok := expiry(find{k.project, "", k.key})
			if !ok {
				continue
			}
			from := exp
			if len(acq) > 0 {
				from = acq[0].firstSeen
			}
			if t, ok := extendedUnknown[k.project+"\x00"+e.ev.Lock.User]; ok && t.Before(e.firstSeen) {
				continue // an operation without an answer may have renewed it, longer or shorter: no bound to check
			}
			if e.firstSeen.Add(clockSlack).Before(exp) && !lossBetween(faults, from, e.firstSeen) {
				r.violate("%s: %q token %d released expired at %s, before its expires_at %s (shown by %s called %s, answered %s)", k.project, k.key.file, k.key.token,
					e.firstSeen.Format("15:04:05.000"), exp.Format("15:04:05.000"), describe(minput{in: by.Input}, by.Output),
					by.Call.Format("15:04:05.000"), by.Return.Format("15:04:05.000"))
				continue
			}
			exp = expHi
			lag := e.firstSeen.Sub(exp)
			r.ExpiryLags = append(r.ExpiryLags, lag)
			if allowed := b.Expiry + b.Slack + faultTime(faults, exp.Add(-b.Expiry), e.firstSeen); lag > allowed {
				r.violate("%s: %q token %d released expired %v after its expires_at %s (allowed %v)", k.project, k.key.file, k.key.token,
					lag.Round(time.Millisecond), exp.Format("15:04:05.000"), allowed)
			}
		}
	}
	if final != nil {
		checkFinal(r, subs, final)
	}
}

// checkFinal folds each subscriber's stream (its last snapshot, then the
// events after it) and compares the result with the project's final
// /status.
func checkFinal(r *Report, subs map[int]*sub, final map[string]Output) {
	for id, s := range subs {
		want, ok := final[s.project]
		if !ok || want.Unknown || want.Code != "" {
			r.violate("%s: no final status (%s %s)", s.project, want.Code, want.Err)
			continue
		}
		locks := map[string]View{}
		users := map[string]bool{}
		var last uint64
		for _, rc := range s.events {
			ev := rc.Event
			last = ev.Seq
			switch ev.Type {
			case filelock.EventSnapshot:
				clear(locks)
				clear(users)
				for _, l := range ev.Locks {
					locks[l.File] = View{File: l.File, User: l.User, Token: l.Token}
				}
				for _, u := range ev.Users {
					users[u] = true
				}
			case filelock.EventLockAcquired:
				locks[ev.Lock.File] = View{File: ev.Lock.File, User: ev.Lock.User, Token: ev.Lock.Token}
			case filelock.EventLockReleased:
				delete(locks, ev.Lock.File)
			case filelock.EventUserJoined:
				users[ev.User] = true
			case filelock.EventUserLeft:
				delete(users, ev.User)
			}
		}
		if last != want.LastID {
			r.violate("%s: subscriber %d ended at event %d, the final status at %d", s.project, id, last, want.LastID)
			continue
		}
		got := make([]View, 0, len(locks))
		for _, v := range locks {
			got = append(got, v)
		}
		sort.Slice(got, func(i, j int) bool { return got[i].File < got[j].File })
		wantLocks := make([]View, len(want.Locks))
		for i, v := range want.Locks {
			wantLocks[i] = View{File: v.File, User: v.User, Token: v.Token}
		}
		if !slices.Equal(got, wantLocks) {
			r.violate("%s: subscriber %d's snapshot + events give locks %v, the final status %v", s.project, id, got, wantLocks)
		}
	}
}
