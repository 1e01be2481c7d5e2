package check

import (
	"strings"
	"testing"
	"time"

	"filelock"
)

// The checker on hand-made histories: each rule it enforces rejects a
// history that breaks it, and accepts the same history without the break.

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// lockOp is a lock of file by user over [call, ret] ms, answered with token
// (0: file_locked by holder/holderToken) and a lock living ttl past call.
func lockOp(file, user string, call, ret int, token int64, ttl time.Duration) Op {
	in := Input{Kind: KLock, Project: "p", File: file, User: user, TTL: ttl}
	return Op{Input: in, Call: at(call), Return: at(ret), Output: Output{Lock: &View{File: file, User: user, Token: token, Exp: at(call).Add(ttl)}}}
}

func failOp(kind Kind, file, user string, call, ret int, code string, l *View) Op {
	return Op{Input: Input{Kind: kind, Project: "p", File: file, User: user, TTL: time.Minute}, Call: at(call), Return: at(ret), Output: Output{Code: code, Lock: l}}
}

func unlockOp(file, user string, call, ret int, token int64, exp time.Time) Op {
	return Op{Input: Input{Kind: KUnlock, Project: "p", File: file, User: user}, Call: at(call), Return: at(ret),
		Output: Output{Lock: &View{File: file, User: user, Token: token, Exp: exp}}}
}

func history(ops ...Op) *History {
	h := NewHistory()
	for _, op := range ops {
		h.Add(op)
	}
	return h
}

func wantViolation(t *testing.T, h *History, substr string) {
	t.Helper()
	r := Check(h, nil, DefaultBounds())
	for _, v := range r.Violations {
		if strings.Contains(v, substr) {
			return
		}
	}
	t.Fatalf("no violation containing %q in %s", substr, r)
}

func wantOK(t *testing.T, h *History) {
	t.Helper()
	if r := Check(h, nil, DefaultBounds()); !r.OK() || len(r.Inconclusive) > 0 {
		t.Fatalf("want a clean history: %s", r)
	}
}

func TestModelTwoHolders(t *testing.T) {
	a := lockOp("f", "alice", 0, 10, 100, time.Minute)
	wantOK(t, history(a, failOp(KLock, "f", "bob", 20, 30, filelock.EFileLocked, a.Output.Lock)))
	wantViolation(t, history(a, lockOp("f", "bob", 20, 30, 101, time.Minute)), "not linearizable")
	// Released in between: bob may take it.
	wantOK(t, history(a, unlockOp("f", "alice", 12, 15, 100, a.Output.Lock.Exp), lockOp("f", "bob", 20, 30, 101, time.Minute)))
	// Concurrent with the unlock: either order is possible.
	wantOK(t, history(a, unlockOp("f", "alice", 12, 40, 100, a.Output.Lock.Exp), lockOp("f", "bob", 20, 30, 101, time.Minute)))
}

func TestModelOneFilePerUser(t *testing.T) {
	a := lockOp("f", "alice", 0, 10, 100, time.Minute)
	wantOK(t, history(a, failOp(KLock, "g", "alice", 20, 30, filelock.EUserHasLock, a.Output.Lock)))
	wantViolation(t, history(a, lockOp("g", "alice", 20, 30, 101, time.Minute)), "not linearizable")
}

func TestModelExpiry(t *testing.T) {
	a := lockOp("f", "alice", 0, 10, 100, time.Second)
	// After expires_at the file is free; before it, it is not.
	wantOK(t, history(a, lockOp("f", "bob", 1100, 1110, 101, time.Second)))
	wantViolation(t, history(a, lockOp("f", "bob", 500, 510, 101, time.Second)), "not linearizable")
	// Straddling expires_at: either is possible.
	wantOK(t, history(a, lockOp("f", "bob", 990, 1010, 101, time.Second)))
	wantOK(t, history(a, failOp(KLock, "f", "bob", 990, 1010, filelock.EFileLocked, a.Output.Lock)))
}

func TestModelUnknownOutcome(t *testing.T) {
	a := lockOp("f", "alice", 0, 10, 100, time.Minute)
	a.Output = Output{Unknown: true, Err: "timeout"}
	// The lost lock may or may not have been taken.
	wantOK(t, history(a, lockOp("f", "bob", 20, 30, 101, time.Minute)))
	wantOK(t, history(a, failOp(KLock, "f", "bob", 20, 30, filelock.EFileLocked, &View{File: "f", User: "alice", Token: 100, Exp: at(5).Add(time.Minute)})))
	// But it cannot have been taken by someone else than alice.
	wantViolation(t, history(a, failOp(KLock, "f", "bob", 20, 30, filelock.EFileLocked, &View{File: "f", User: "carol", Token: 100, Exp: at(5).Add(time.Minute)})), "not linearizable")
}

func TestTokensReissued(t *testing.T) {
	a := lockOp("f", "alice", 0, 10, 100, time.Minute)
	u := unlockOp("f", "alice", 20, 30, 100, a.Output.Lock.Exp)
	wantOK(t, history(a, u, lockOp("f", "bob", 40, 50, 101, time.Minute)))
	// After a fault that lost writes the model starts over, but tokens
	// must still go up.
	h := history(a, u, Op{Input: Input{Kind: KResync, Project: "p"}, Call: at(35), Return: at(36), Output: Output{Locks: []View{}}},
		lockOp("f", "bob", 40, 50, 100, time.Minute))
	h.AddFault(Fault{Name: "loss", Loss: true, Start: at(31), End: at(37)})
	wantViolation(t, h, "a token was reissued")
}

// stream records events of project p for subscriber id.
func stream(h *History, id int, evs ...Received) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[id] = &sub{project: "p", events: evs}
}

func ev(ms int, typ string, seq uint64, file string, token int64, reason string) Received {
	return Received{At: at(ms), Event: filelock.Event{Type: typ, ProjectID: "p", Seq: seq, Reason: reason,
		Lock: filelock.Lock{ProjectID: "p", File: file, User: "alice", Token: token}}}
}

func TestStreams(t *testing.T) {
	snap := ev(0, filelock.EventSnapshot, 1, "", 0, "")
	acq := func(ms int, seq uint64, f string) Received {
		return ev(ms, filelock.EventLockAcquired, seq, f, int64(seq), "")
	}
	h := NewHistory()
	stream(h, 0, snap, acq(10, 2, "a"), acq(20, 3, "b"), acq(30, 4, "c"))
	stream(h, 1, snap, acq(10, 2, "a"), acq(30, 4, "c"))
	wantViolation(t, h, "subscriber 1 skipped event 3")

	h = NewHistory()
	stream(h, 0, snap, acq(10, 2, "a"), acq(20, 3, "b"), acq(30, 4, "c"))
	stream(h, 1, snap, acq(10, 2, "a"), ev(25, filelock.EventSnapshot, 3, "", 0, ""), acq(30, 4, "c"))
	wantOK(t, h)

	h = NewHistory()
	stream(h, 0, snap, acq(10, 2, "a"), acq(20, 3, "b"))
	stream(h, 1, snap, acq(10, 2, "a"), acq(20, 3, "c"))
	wantViolation(t, h, "an id was reissued")

	h = NewHistory()
	stream(h, 0, snap, acq(10, 3, "a"), acq(20, 2, "b"))
	wantViolation(t, h, "ids went down")

	h = NewHistory()
	stream(h, 0, acq(10, 2, "a"))
	wantViolation(t, h, "not a snapshot")
}

func TestEventsOfOperations(t *testing.T) {
	a := lockOp("f", "alice", 100, 110, 7, time.Second)
	snap := ev(0, filelock.EventSnapshot, 1, "", 0, "")
	h := history(a)
	stream(h, 0, snap)
	wantViolation(t, h, "got neither its lock_acquired")

	// Released expired before its expires_at (1.1 s): early.
	h = history(a)
	stream(h, 0, snap, ev(120, filelock.EventLockAcquired, 7, "f", 7, ""), ev(600, filelock.EventLockReleased, 8, "f", 7, filelock.ReasonExpired))
	wantViolation(t, h, "before its expires_at")
	// Late: 3 s after it.
	h = history(a)
	stream(h, 0, snap, ev(120, filelock.EventLockAcquired, 7, "f", 7, ""), ev(4100, filelock.EventLockReleased, 8, "f", 7, filelock.ReasonExpired))
	wantViolation(t, h, "after its expires_at")
	// On time.
	h = history(a)
	stream(h, 0, snap, ev(120, filelock.EventLockAcquired, 7, "f", 7, ""), ev(1300, filelock.EventLockReleased, 8, "f", 7, filelock.ReasonExpired))
	wantOK(t, h)
	// Twice.
	h = history(a)
	stream(h, 0, snap, ev(120, filelock.EventLockAcquired, 7, "f", 7, ""), ev(1300, filelock.EventLockReleased, 8, "f", 7, filelock.ReasonExpired),
		ev(1400, filelock.EventLockReleased, 9, "f", 7, filelock.ReasonExpired))
	wantViolation(t, h, "twice")
}

func statusOp(call, ret int, locks ...View) Op {
	return Op{Input: Input{Kind: KStatus, Project: "p"}, Call: at(call), Return: at(ret), Output: Output{Locks: append([]View{}, locks...)}}
}

func TestModelStatus(t *testing.T) {
	a := lockOp("f", "alice", 0, 10, 100, time.Second)
	l := *a.Output.Lock
	wantOK(t, history(a, statusOp(20, 30, l)))
	wantViolation(t, history(a, statusOp(20, 30)), "not linearizable") // alive, not listed
	// Expired but not reaped yet: listed or not.
	wantOK(t, history(a, statusOp(1200, 1210, l)))
	wantOK(t, history(a, statusOp(1200, 1210)))
	// Never a lock nobody took, nor another token.
	wantViolation(t, history(a, statusOp(20, 30, l, View{File: "g", User: "bob", Token: 101, Exp: at(1000)})), "not linearizable")
	l2 := l
	l2.Token = 99
	wantViolation(t, history(a, statusOp(20, 30, l2)), "not linearizable")
}

func TestModelStatusExpiredUnreaped(t *testing.T) {
	a := lockOp("f", "alice", 0, 10, 100, time.Second)
	l := *a.Output.Lock
	// Listed twice after its expiry, with an operation between.
	wantOK(t, history(a, statusOp(1200, 1210, l), lockOp("g", "bob", 1220, 1230, 101, time.Second), statusOp(1240, 1250, l, View{File: "g", User: "bob", Token: 101, Exp: at(2220)})))
	// Taken over by bob: it is gone for good.
	wantViolation(t, history(a, lockOp("f", "bob", 1220, 1230, 101, time.Second), statusOp(1240, 1250, l)), "not linearizable")
}
