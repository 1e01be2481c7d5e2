package handlers

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"filelock"
)

// The wire formats of events as they were written through encoding/json:
// the hand-written ones must match them byte for byte.
func encodeWSJSON(ev *filelock.Event) []byte {
	data, err := json.Marshal(*ev)
	if err != nil {
		panic(err)
	}
	return []byte(`{"event":"` + ev.Type + `","data":` + string(data) + `}`)
}

func encodeSSEJSON(ev *filelock.Event) []byte {
	data, err := json.Marshal(*ev)
	if err != nil {
		panic(err)
	}
	return []byte("id: " + strconv.FormatUint(ev.Seq, 10) + "\nevent: " + ev.Type + "\ndata: " + string(data) + "\n\n")
}

// TestEventJSON: each event's data object, and each wire format of the
// event, is byte for byte what encoding/json writes, for random events of
// every type.
func TestEventJSON(t *testing.T) {
	// An Event or Lock that gains a field needs appendEventData updated.
	for typ, fields := range map[reflect.Type]int{reflect.TypeFor[filelock.Event](): 9, reflect.TypeFor[filelock.Lock](): 7} {
		if typ.NumField() != fields {
			t.Errorf("%v has %d fields, appendEventData knows %d: update eventjson.go", typ, typ.NumField(), fields)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	strs := []string{"", "p", "images/a b.jpg", "<b>&amp;</b>", `q"uote\back`, "tab\tnl\n\x00\x1f\x7f", "é漢字🙂",
		"\u2028\u2029", "bad\xff\xfeutf8", "\xe2\x80", strings.Repeat("x", 1024), "unlocked", "expired"}
	str := func() string { return strs[rng.IntN(len(strs))] }
	tm := func() time.Time {
		if rng.IntN(4) == 0 {
			return time.Time{}
		}
		return time.Unix(rng.Int64N(1<<40)-1<<39, rng.Int64N(1e9))
	}
	lock := func() filelock.Lock {
		return filelock.Lock{ProjectID: str(), File: str(), User: str(), Token: rng.Int64() - rng.Int64(),
			AcquiredAt: tm(), ExpiresAt: tm(), TTL: time.Duration(rng.Int64())}
	}
	types := []string{filelock.EventLockAcquired, filelock.EventLockReleased, filelock.EventUserJoined,
		filelock.EventUserLeft, filelock.EventSnapshot, "other"}
	for range 5000 {
		ev := filelock.Event{Type: types[rng.IntN(len(types))], ProjectID: str(), Seq: rng.Uint64() >> rng.IntN(64),
			Prev: rng.Uint64(), Lock: lock(), Reason: str(), User: str()}
		for range rng.IntN(4) {
			ev.Locks = append(ev.Locks, lock())
		}
		for range rng.IntN(4) {
			ev.Users = append(ev.Users, str())
		}
		if rng.IntN(3) == 0 {
			ev.Locks, ev.Users = nil, nil
		}
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEventData([]byte("prefix"), &ev); string(got) != "prefix"+string(want) {
			t.Fatalf("%+v:\n got %s\nwant %s", ev, got[6:], want)
		}
		for _, c := range []struct {
			name string
			got  func(*filelock.Event) ([]byte, error)
			want []byte
		}{{"ws", encodeWS, encodeWSJSON(&ev)}, {"sse", encodeSSE, encodeSSEJSON(&ev)}, {"socketio", encodeSIO, want}} {
			got, err := c.got(&ev)
			if err != nil || string(got) != string(c.want) {
				t.Fatalf("%s of %+v: %v\n got %s\nwant %s", c.name, ev, err, got, c.want)
			}
		}
	}
}
