package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"filelock/internal/redistest"
)

// TestRaceTwoInstances has 60 users race over a few files of one project
// through two server instances sharing one Redis, each user alternating
// between the instances. The event log each instance streams is then
// replayed: it must show no file with two holders (I1), no user with two
// files (I2), strictly increasing tokens (I3), and exactly one event per
// change the clients were told about (I6), the same on both instances.
func TestRaceTwoInstances(t *testing.T) {
	const users, rounds = 60, 25
	files := []string{"a.jpg", "b.jpg", "c/d.jpg", "이미지.jpg"}
	srvs := redisInstances(t, redistest.Start(t), rtOptions(), nil)
	project := newProject()
	var streams []*sseClient
	for _, s := range srvs {
		streams = append(streams, openSSE(t, s.url+"/events/"+project, nil))
	}
	for _, c := range streams {
		c.log.waitFor(t, "snapshot", func(e wireEvent) bool { return e.Name == "snapshot" })
	}

	var acquired, released, switched, refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for u := range users {
		wg.Go(func() {
			user := "user-" + strconv.Itoa(u)
			rng := rand.New(rand.NewPCG(uint64(u), 7))
			for r := range rounds {
				base := srvs[(u+r)%len(srvs)].url
				file := files[rng.IntN(len(files))]
				var reply struct {
					Acquired bool            `json:"acquired"`
					Renewed  bool            `json:"renewed"`
					Released json.RawMessage `json:"released"`
				}
				st, err := postJSON(base+"/lock", map[string]any{"project_id": project, "file": file, "user_id": user, "release_previous": true}, &reply)
				switch {
				case err != nil:
					errs <- err
					return
				case st == http.StatusConflict:
					refused.Add(1)
					continue
				case st != http.StatusOK:
					errs <- fmt.Errorf("%s: lock status %d", user, st)
					return
				}
				if !reply.Renewed {
					acquired.Add(1)
				}
				if len(reply.Released) > 0 && string(reply.Released) != "null" {
					switched.Add(1)
				}
				if rng.IntN(3) == 0 {
					st, err := postJSON(base+"/unlock", map[string]any{"project_id": project, "file": file, "user_id": user}, nil)
					if err != nil || st != http.StatusOK {
						errs <- fmt.Errorf("%s: unlock status %d err %v", user, st, err)
						return
					}
					released.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d acquisitions, %d switches, %d unlocks, %d refusals", acquired.Load(), switched.Load(), released.Load(), refused.Load())
	if acquired.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("no contention: %d acquired, %d refused", acquired.Load(), refused.Load())
	}

	var status struct {
		LastEventID string `json:"last_event_id"`
	}
	if st, err := postJSON(srvs[0].url+"/status/"+project, nil, &status); err != nil || st != http.StatusOK {
		t.Fatalf("status: %d %v", st, err)
	}
	want := int(acquired.Load() + released.Load() + switched.Load())
	var logs [][]string
	for i, c := range streams {
		c.log.waitEventID(t, status.LastEventID)
		evs := c.log.all()[1:] // after the snapshot
		if len(evs) != want {
			t.Fatalf("instance %d streamed %d events, clients saw %d changes", i, len(evs), want)
		}
		logs = append(logs, replay(t, evs, acquired.Load(), released.Load(), switched.Load()))
	}
	for i := range logs[0] {
		if logs[0][i] != logs[1][i] {
			t.Fatalf("instances differ at event %d: %s vs %s", i, logs[0][i], logs[1][i])
		}
	}
}

// replay checks I1–I3 over the event log evs and that it holds exactly the
// counted acquisitions and releases; it returns the log rendered.
func replay(t *testing.T, evs []wireEvent, acquired, unlocked, switched int64) []string {
	t.Helper()
	holder := map[string]string{} // file → user
	holds := map[string]string{}  // user → file
	var lastSeq, lastToken int64
	var nAcq, nUnl, nSw int64
	var out []string
	for _, e := range evs {
		seq, _ := strconv.ParseInt(e.eventID(), 10, 64)
		if lastSeq != 0 && seq <= lastSeq { // ids grow, not by one (Redis takes them from its clock)
			t.Fatalf("event ids not increasing: %d after %d", seq, lastSeq)
		}
		lastSeq = seq
		file, user := e.str("file"), e.str("user")
		token := int64(e.Data["token"].(float64))
		switch e.Name {
		case "lock_acquired":
			if h, ok := holder[file]; ok {
				t.Fatalf("event %d: %s acquired %s held by %s", seq, user, file, h)
			}
			if f, ok := holds[user]; ok {
				t.Fatalf("event %d: %s acquired %s while holding %s", seq, user, file, f)
			}
			if token <= lastToken {
				t.Fatalf("event %d: token %d not above %d", seq, token, lastToken)
			}
			lastToken = token
			holder[file], holds[user] = user, file
			nAcq++
		case "lock_released":
			if holder[file] != user {
				t.Fatalf("event %d: release of %s by %s, held by %q", seq, file, user, holder[file])
			}
			delete(holder, file)
			delete(holds, user)
			switch e.str("reason") {
			case "unlocked":
				nUnl++
			case "switched":
				nSw++
			default:
				t.Fatalf("event %d: unexpected reason %s", seq, e.str("reason"))
			}
		default:
			t.Fatalf("unexpected event %s", e.Name)
		}
		out = append(out, fmt.Sprintf("%s#%d %s %s %d", e.Name, seq, file, user, token))
	}
	if nAcq != acquired || nUnl != unlocked || nSw != switched {
		t.Fatalf("log has %d acquired, %d unlocked, %d switched; clients saw %d, %d, %d", nAcq, nUnl, nSw, acquired, unlocked, switched)
	}
	return out
}

// postJSON POSTs v (GETs when v is nil) and decodes a 200 answer into out.
func postJSON(url string, v any, out any) (int, error) {
	var res *http.Response
	var err error
	if v == nil {
		res, err = http.Get(url)
	} else {
		b, _ := json.Marshal(v)
		res, err = http.Post(url, "application/json", bytes.NewReader(b))
	}
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK && out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			return res.StatusCode, err
		}
	}
	return res.StatusCode, nil
}
