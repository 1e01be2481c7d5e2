package handlers

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"filelock"
	"filelock/session"
)

// TestReplyJSON: each hand-written reply encoding is byte for byte what
// encoding/json writes for the same value.
func TestReplyJSON(t *testing.T) {
	// A reply type that gains a field needs its AppendJSON updated.
	for typ, fields := range map[reflect.Type]int{
		reflect.TypeFor[LockReply](): 5, reflect.TypeFor[UnlockReply](): 2, reflect.TypeFor[HeartbeatReply](): 2,
		reflect.TypeFor[LockInfo](): 1, reflect.TypeFor[filelock.Lock](): 7,
	} {
		if typ.NumField() != fields {
			t.Errorf("%v has %d fields, AppendJSON knows %d: update reply.go", typ, typ.NumField(), fields)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	strs := []string{"", "p", "images/a b.jpg", "<b>&amp;</b>", `q"uote\back`, "tab\tnl\n\x00\x1f\x7f", "é漢字🙂",
		"\u2028\u2029", "<", "a>b", "x&y", "bad\xff\xfeutf8", "\xe2\x80", strings.Repeat("x", 1024), "a/b/c.png"}
	str := func() string {
		if rng.IntN(3) == 0 {
			return strs[rng.IntN(len(strs))] + strs[rng.IntN(len(strs))]
		}
		return strs[rng.IntN(len(strs))]
	}
	times := []time.Time{{}, time.Unix(0, 0), time.Date(2026, 12, 1, 9, 30, 1, 123456789, time.UTC),
		time.Date(2026, 12, 1, 9, 30, 1, 999999999, time.FixedZone("x", -7*3600)), time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}
	tm := func() time.Time {
		if rng.IntN(2) == 0 {
			return times[rng.IntN(len(times))]
		}
		return time.Unix(rng.Int64N(1<<40)-1<<39, rng.Int64N(1e9))
	}
	floats := []float64{0, 0.001, 1.0 / 3, 30, 29.999, 1e-7, 1e-6, 123456789012345678901234.0, 1e21, 1e20, 5e-324,
		math.MaxFloat64, -2.5, math.Copysign(0, -1)}
	lock := func() filelock.Lock {
		return filelock.Lock{ProjectID: str(), File: str(), User: str(), Token: rng.Int64() - rng.Int64(),
			AcquiredAt: tm(), ExpiresAt: tm(), TTL: time.Duration(rng.Int64())}
	}
	same := func(v jsonAppender) {
		t.Helper()
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.AppendJSON([]byte("prefix")); string(got) != "prefix"+string(want) {
			t.Fatalf("%T %+v:\n got %s\nwant %s", v, v, got[6:], want)
		}
		// As a session's reply: what OK made of encoding/json's output.
		if got, want := session.OK(v), append([]byte(`{"ok":true,`), want[1:]...); string(got) != string(want) {
			t.Fatalf("OK(%T):\n got %s\nwant %s", v, got, want)
		}
	}
	for range 5000 {
		l, f := lock(), floats[rng.IntN(len(floats))]
		if rng.IntN(2) == 0 {
			f = rng.Float64() * math.Pow(10, float64(rng.IntN(30)-10))
		}
		var released *filelock.Lock
		if rng.IntN(2) == 0 {
			r := lock()
			released = &r
		}
		same(LockReply{Acquired: rng.IntN(2) == 0, Renewed: rng.IntN(2) == 0, Lock: l, Released: released, HeartbeatIntervalSeconds: f})
		same(UnlockReply{Released: rng.IntN(2) == 0, Lock: l})
		same(HeartbeatReply{Lock: l, HeartbeatIntervalSeconds: f})
		same(LockInfo{Lock: l})
	}
}
