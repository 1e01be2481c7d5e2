package check

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Bounds are the SPEC's time bounds as the checker applies them.
type Bounds struct {
	// Expiry: an expired lock's lock_released reaches a subscriber within
	// this long after its expires_at (SPEC I4: 1 s), plus the duration of
	// any fault in effect meanwhile (I7), plus Slack.
	Expiry time.Duration
	// Slack absorbs the delivery from the store to a subscriber on a
	// loaded machine.
	Slack time.Duration
	// Porcupine bounds the linearizability search of each project epoch;
	// a search that runs out is reported as inconclusive, not as a pass.
	Porcupine time.Duration
}

// DefaultBounds are the bounds of SPEC I4 with a second of slack.
func DefaultBounds() Bounds {
	return Bounds{Expiry: time.Second, Slack: time.Second, Porcupine: 10 * time.Second}
}

// Report is the outcome of a check.
type Report struct {
	Violations   []string
	Inconclusive []string // linearizability searches that timed out
	Warnings     []string // behaviour the SPEC leaves open, worth a look
	Counts       Counts
	// ExpiryLags are the delays from expires_at to the first subscriber's
	// lock_released (expired), one per expired lock.
	ExpiryLags []time.Duration
}

// OK reports whether the check found no violation.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

func (r *Report) violate(format string, args ...any) {
	if len(r.Violations) < 200 {
		r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
	}
}

func (r *Report) warn(format string, args ...any) {
	if len(r.Warnings) < 50 {
		r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
	}
}

// String summarises the report.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d operations (%d with unknown outcome), %d events received, %d faults; ",
		r.Counts.Ops, r.Counts.Unknown, r.Counts.Events, r.Counts.Faults)
	if len(r.ExpiryLags) > 0 {
		lags := append([]time.Duration(nil), r.ExpiryLags...)
		sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
		fmt.Fprintf(&b, "%d expiries, lag p50 %v p99 %v max %v; ", len(lags),
			lags[len(lags)/2].Round(time.Millisecond), lags[len(lags)*99/100].Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "%d violations, %d inconclusive", len(r.Violations), len(r.Inconclusive))
	for _, v := range r.Violations {
		b.WriteString("\n  violation: " + v)
	}
	for _, v := range r.Inconclusive {
		b.WriteString("\n  inconclusive: " + v)
	}
	for _, v := range r.Warnings {
		b.WriteString("\n  warning: " + v)
	}
	return b.String()
}

// Check checks the history. final is each project's /status read once the
// clients stopped and every lock had expired; nil skips the comparison.
func Check(h *History, final map[string]Output, b Bounds) *Report {
	ops, subs, faults := h.snapshot()
	r := &Report{Counts: h.Counts()}
	checkLinearizable(r, ops, faults, b)
	checkTokens(r, ops)
	log := checkStreams(r, subs, faults)
	checkEvents(r, ops, subs, log, faults, final, b)
	return r
}

// lossBetween reports whether a fault that may lose writes was in effect
// at some point in [from, to].
func lossBetween(faults []Fault, from, to time.Time) bool {
	for _, f := range faults {
		if f.Loss && !f.End.Before(from) && !f.Start.After(to) {
			return true
		}
	}
	return false
}

// lossAfter reports whether a fault that may lose writes ended after t.
func lossAfter(faults []Fault, t time.Time) bool {
	for _, f := range faults {
		if f.Loss && f.End.After(t) {
			return true
		}
	}
	return false
}

// faultTime is how long faults were in effect within [from, to].
func faultTime(faults []Fault, from, to time.Time) time.Duration {
	var d time.Duration
	for _, f := range faults {
		s, e := f.Start, f.End
		if s.Before(from) {
			s = from
		}
		if e.After(to) {
			e = to
		}
		if e.After(s) {
			d += e.Sub(s)
		}
	}
	return d
}

// checkLinearizable runs porcupine on each project's operations, one epoch
// at a time: a fault that may lose writes ends an epoch, and the next one
// starts from the resync read right after it.
func checkLinearizable(r *Report, ops []Op, faults []Fault, b Bounds) {
	byProject := map[string][]Op{}
	for _, op := range ops {
		byProject[op.Input.Project] = append(byProject[op.Input.Project], op)
	}
	for project, pops := range byProject {
		var epoch []porcupine.Operation
		var init []View
		run := func() {
			if len(epoch) == 0 {
				return
			}
			res, info := porcupine.CheckOperationsVerbose(Model(init), epoch, b.Porcupine)
			switch res {
			case porcupine.Illegal:
				r.violate("%s: not linearizable (epoch from %s): %s", project, describeInit(init), explain(info, epoch))
			case porcupine.Unknown:
				r.Inconclusive = append(r.Inconclusive, fmt.Sprintf("%s: %d operations: no verdict within %v", project, len(epoch), b.Porcupine))
			}
			epoch = nil
		}
		for _, op := range pops {
			if op.Input.Kind == KResync {
				run()
				if op.Output.Unknown || op.Output.Code != "" {
					r.violate("%s: resync after a fault failed: %s %s", project, op.Output.Code, op.Output.Err)
				}
				init = op.Output.Locks
				continue
			}
			in := minput{in: op.Input, call: ms(op.Call), ret: ms(op.Return)}
			ret := op.Return.UnixNano()
			if op.Output.Unknown {
				in.ret, ret = never, math.MaxInt64/2
			}
			epoch = append(epoch, porcupine.Operation{ClientId: op.Client, Input: in, Call: op.Call.UnixNano(), Output: op.Output, Return: ret})
		}
		run()
	}
}

// explain describes the longest partial linearization porcupine found and
// the first operations (by call) it could not place after it.
func explain(info porcupine.LinearizationInfo, epoch []porcupine.Operation) string {
	parts := info.PartialLinearizations()
	var best []int
	for _, p := range parts {
		for _, l := range p {
			if len(l) > len(best) {
				best = l
			}
		}
	}
	in := map[int]bool{}
	for _, i := range best {
		in[i] = true
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the longest linearizable prefix has %d of %d operations, ending", len(best), len(epoch))
	for _, i := range best[max(0, len(best)-4):] {
		op := epoch[i]
		fmt.Fprintf(&b, "; [%s] %s", span(op), describe(op.Input.(minput), op.Output.(Output)))
	}
	b.WriteString("; not placed after it:")
	n := 0
	for i, op := range epoch { // epoch is by call
		if in[i] {
			continue
		}
		fmt.Fprintf(&b, " [%s] %s;", span(op), describe(op.Input.(minput), op.Output.(Output)))
		if n++; n == 4 {
			break
		}
	}
	return b.String()
}

// describeInit prints the locks an epoch starts with.
func describeInit(init []View) string {
	if init == nil {
		return "nothing"
	}
	s := "a resync with locks"
	for _, l := range init {
		s += fmt.Sprintf(" {%q %q %d exp %s}", l.File, l.User, l.Token, l.Exp.Format("15:04:05.000"))
	}
	return s
}

// span prints an operation's call and return times.
func span(op porcupine.Operation) string {
	ret := "never"
	if op.Return < math.MaxInt64/4 {
		ret = time.Unix(0, op.Return).Format("05.000")
	}
	return time.Unix(0, op.Call).Format("15:04:05.000") + "–" + ret
}

// tokensOf returns every token a reply showed.
func tokensOf(out Output) []int64 {
	var t []int64
	if out.Lock != nil {
		t = append(t, out.Lock.Token)
	}
	if out.Released != nil {
		t = append(t, out.Released.Token)
	}
	for _, l := range out.Locks {
		t = append(t, l.Token)
	}
	return t
}

// checkTokens: a new acquisition's token is above every token of the
// project any client was shown before the acquisition was asked for, and
// every token fits in 2^53 (SPEC I3).
func checkTokens(r *Report, ops []Op) {
	byProject := map[string][]Op{}
	for _, op := range ops {
		if !op.Output.Unknown {
			byProject[op.Input.Project] = append(byProject[op.Input.Project], op)
		}
	}
	for project, pops := range byProject {
		byReturn := append([]Op(nil), pops...)
		sort.Slice(byReturn, func(i, j int) bool { return byReturn[i].Return.Before(byReturn[j].Return) })
		var seen int64
		var seenOp Op
		j := 0
		for _, op := range pops { // by call
			for ; j < len(byReturn) && byReturn[j].Return.Before(op.Call); j++ {
				for _, t := range tokensOf(byReturn[j].Output) {
					if t > seen {
						seen, seenOp = t, byReturn[j]
					}
				}
			}
			if (op.Input.Kind != KLock && op.Input.Kind != KClaim) || op.Output.Code != "" || op.Output.Renewed || op.Output.Lock == nil {
				continue
			}
			t := op.Output.Lock.Token
			if t >= 1<<53 || t <= 0 {
				r.violate("%s: token %d out of (0, 2^53)", project, t)
			}
			if t <= seen {
				r.violate("%s: %s at %s got token %d, not above token %d shown at %s (%s): a token was reissued or went down",
					project, op.Input.Kind, op.Call.Format("15:04:05.000"), t, seen, seenOp.Return.Format("15:04:05.000"),
					describe(minput{in: seenOp.Input}, seenOp.Output))
			}
		}
	}
}
