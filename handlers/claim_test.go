package handlers_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"filelock"
	"filelock/internal/redistest"
)

// claim POSTs /claim for user with files and returns the answer.
func (s *server) claim(project, user string, files ...string) response {
	s.t.Helper()
	return s.post("/claim", map[string]any{"project_id": project, "user_id": user, "files": files})
}

// testClaim: files are tried in order; the first free one, or the user's
// own, is taken; the user's other lock is given up (switched, its
// lock_released right before the new lock_acquired); none_free when every
// file is someone else's, with no lock and no change.
func testClaim(t *testing.T, s *server) {
	const p = "claim-p"
	sse := openSSE(t, s.url+"/events/"+p, nil)
	sse.log.waitFor(t, "snapshot", func(e wireEvent) bool { return e.Name == "snapshot" })
	a := s.lock(p, "a.jpg", "u1").Lock

	// Order: a.jpg is u1's, so u2 gets b.jpg.
	var r lockReply
	s.claim(p, "u2", "a.jpg", "b.jpg", "c.jpg").ok(t, &r)
	if !r.Acquired || r.Renewed || r.Released != nil || r.Lock.File != "b.jpg" || r.Lock.User != "u2" || r.Lock.Token <= a.Token {
		t.Fatalf("claim by u2: %+v", r)
	}
	if r.HeartbeatIntervalSeconds != 30 {
		t.Errorf("heartbeat_interval_seconds %v", r.HeartbeatIntervalSeconds)
	}
	b := r.Lock

	// Renew: the user's own listed file comes back renewed, same token,
	// even when a free file comes after it.
	var again lockReply
	s.claim(p, "u2", "a.jpg", "b.jpg", "c.jpg").ok(t, &again)
	if !again.Renewed || again.Released != nil || again.Lock.File != "b.jpg" || again.Lock.Token != b.Token || !again.Lock.AcquiredAt.Equal(b.AcquiredAt) {
		t.Fatalf("claim of the user's own file: %+v (was %+v)", again, b)
	}

	// Switch: a free file listed before the user's own is taken, the
	// user's lock given up.
	var sw lockReply
	s.claim(p, "u2", "a.jpg", "d/e.jpg", "b.jpg").ok(t, &sw)
	if sw.Renewed || sw.Lock.File != "d/e.jpg" || sw.Released == nil || sw.Released.File != "b.jpg" || sw.Released.Token != b.Token {
		t.Fatalf("switching claim: %+v", sw)
	}
	rel := sse.log.waitFor(t, "lock_acquired d/e.jpg", func(e wireEvent) bool { return e.Name == "lock_acquired" && e.str("file") == "d/e.jpg" })
	evs := sse.log.all()
	var tail []string
	for _, e := range evs[len(evs)-2:] {
		tail = append(tail, e.Name+" "+e.str("file")+" "+e.str("reason"))
	}
	if want := []string{"lock_released b.jpg switched", "lock_acquired d/e.jpg "}; strings.Join(tail, "|") != strings.Join(want, "|") {
		t.Fatalf("events of the switch: %q, want %q (all: %v)", tail, want, names(evs))
	}
	if atoi(rel.eventID()) != int64(sw.Lock.Token) {
		t.Errorf("lock_acquired event %s, token %d", rel.eventID(), sw.Lock.Token)
	}
	// A switch that releases the old lock is a plain claim of a free file
	// when the user holds none.
	s.claim(p, "u3", "c.jpg").ok(t, &r)
	if r.Released != nil || r.Lock.File != "c.jpg" {
		t.Fatalf("u3 claim: %+v", r)
	}

	// none_free: every listed file is someone else's; nothing changes.
	before := s.status(p)
	res := s.claim(p, "u4", "a.jpg", "d/e.jpg", "c.jpg")
	e := res.fail(t, http.StatusConflict, filelock.ENoneFree)
	if e.Lock != nil || e.Error.Field != "" || strings.Contains(string(res.body), `"lock"`) {
		t.Errorf("none_free carries a lock or field: %s", res.body)
	}
	// Also for a user who holds a lock elsewhere: it is kept.
	s.claim(p, "u1", "d/e.jpg", "c.jpg").fail(t, http.StatusConflict, filelock.ENoneFree)
	sameState(t, "none_free", before, s.status(p))

	// ttl_seconds as for /lock: clamped.
	var tr lockReply
	s.post("/claim", `{"project_id":"claim-q","user_id":"u1","files":["x"],"ttl_seconds":7200}`).ok(t, &tr)
	if got := tr.Lock.ExpiresAt.Sub(tr.Lock.AcquiredAt).Hours(); got != 1 {
		t.Errorf("claim ttl 7200 s: %v h", got)
	}
	// Duplicates in the list are harmless.
	s.claim("claim-q", "u2", "x", "x", "y").ok(t, &tr)
	if tr.Lock.File != "y" {
		t.Errorf("claim with duplicates: %+v", tr.Lock)
	}
}

// testClaimBadInput: files missing, empty, over 1000 or with an invalid
// name, or of the wrong type, are 400 with field files; other fields as for
// /lock. Nothing is taken.
func testClaimBadInput(t *testing.T, s *server) {
	many := make([]string, 1001)
	for i := range many {
		many[i] = "f" + strconv.Itoa(i)
	}
	manyJSON, _ := json.Marshal(many)
	thousand, _ := json.Marshal(many[:1000])
	cases := []struct{ body, field string }{
		{`{"project_id":"cb","user_id":"u1"}`, "files"},
		{`{"project_id":"cb","user_id":"u1","files":null}`, "files"},
		{`{"project_id":"cb","user_id":"u1","files":[]}`, "files"},
		{`{"project_id":"cb","user_id":"u1","files":` + string(manyJSON) + `}`, "files"},
		{`{"project_id":"cb","user_id":"u1","files":["ok",""]}`, "files"},
		{`{"project_id":"cb","user_id":"u1","files":["ok","."]}`, "files"},
		{`{"project_id":"cb","user_id":"u1","files":["ok",".."]}`, "files"},
		{`{"project_id":"cb","user_id":"u1","files":["a\u0001b"]}`, "files"},
		{`{"project_id":"cb","user_id":"u1","files":["` + strings.Repeat("x", 1025) + `"]}`, "files"},
		{`{"project_id":"cb","user_id":"u1","files":"a.jpg"}`, "files"},
		{`{"project_id":"cb","user_id":"u1","files":[1,2]}`, "files"},
		{`{"project_id":"cb","user_id":"u1","files":{"a":1}}`, "files"},
		{`{"project_id":"c b","user_id":"u1","files":["a"]}`, "project_id"},
		{`{"user_id":"u1","files":["a"]}`, "project_id"},
		{`{"project_id":"cb","files":["a"]}`, "user_id"},
		{`{"project_id":"cb","user_id":"u1","files":["a"],"ttl_seconds":"5"}`, "ttl_seconds"},
		{`["a"]`, "body"},
		{`{"project_id":"cb",`, "body"},
	}
	for _, c := range cases {
		e := s.post("/claim", c.body).fail(t, http.StatusBadRequest, filelock.EInvalid)
		if e.Error.Field != c.field {
			b := c.body
			if len(b) > 80 {
				b = b[:80] + "…"
			}
			t.Errorf("%s: field %q, want %q", b, e.Error.Field, c.field)
		}
	}
	if st := s.status("cb"); len(st.Locks) != 0 {
		t.Fatalf("bad claims took %+v", st.Locks)
	}
	// Every list SPEC §3 allows fits, though limits.max_body_bytes is 16 KiB:
	// 1000 names of the longest length; a body beyond that is 413.
	longest := make([]string, 1000)
	for i := range longest {
		longest[i] = fmt.Sprintf("%04d", i) + strings.Repeat("é", (1024-4)/2)
	}
	big, _ := json.Marshal(map[string]any{"project_id": "cb-big", "user_id": "u1", "files": longest})
	var br lockReply
	s.post("/claim", string(big)).ok(t, &br)
	if br.Lock.File != longest[0] {
		t.Fatalf("claim of the longest list took %q", br.Lock.File)
	}
	s.post("/claim", `{"project_id":"cb","user_id":"u1","files":["a"],"pad":"`+strings.Repeat("x", 2<<20)+`"}`).fail(t, http.StatusRequestEntityTooLarge, filelock.ETooLarge)
	s.post("/lock", `{"project_id":"cb","user_id":"u1","file":"a","pad":"`+strings.Repeat("x", 16<<10)+`"}`).fail(t, http.StatusRequestEntityTooLarge, filelock.ETooLarge)
	// 1000 names are fine; the first is taken.
	var r lockReply
	s.post("/claim", `{"project_id":"cb","user_id":"u1","files":`+string(thousand)+`}`).ok(t, &r)
	if r.Lock.File != "f0" {
		t.Fatalf("claim of 1000: %+v", r.Lock)
	}
}

func TestClaimConcurrentMemory(t *testing.T) {
	testClaimConcurrent(t, memoryInstances(t, rtOptions(), nil))
}

func TestClaimConcurrentRedisTwoInstances(t *testing.T) {
	testClaimConcurrent(t, redisInstances(t, redistest.Start(t), rtOptions(), nil))
}

// testClaimConcurrent has 24 users claim from one list of 10 files at once,
// alternating between the instances: exactly 10 win, each a different file,
// the others get none_free. Then they claim, switch and unlock for rounds;
// every instance's event log must show no file with two holders and no user
// with two files, and hold exactly the changes the clients were told about.
func testClaimConcurrent(t *testing.T, srvs []*server) {
	const users, nfiles, rounds = 24, 10, 12
	project := newProject()
	files := make([]string, nfiles)
	for i := range files {
		files[i] = fmt.Sprintf("img/%02d.jpg", i)
	}
	var streams []*sseClient
	for _, s := range srvs {
		c := openSSE(t, s.url+"/events/"+project, nil)
		c.log.waitFor(t, "snapshot", func(e wireEvent) bool { return e.Name == "snapshot" })
		streams = append(streams, c)
	}
	type claimed struct {
		Renewed  bool           `json:"renewed"`
		Lock     filelock.Lock  `json:"lock"`
		Released *filelock.Lock `json:"released"`
	}
	claim := func(base, user string, list []string) (int, claimed, error) {
		var r claimed
		st, err := postJSON(base+"/claim", map[string]any{"project_id": project, "user_id": user, "files": list}, &r)
		return st, r, err
	}

	// All at once.
	var (
		start    = make(chan struct{})
		wg       sync.WaitGroup
		mu       sync.Mutex
		winners  = map[string]string{} // file → user
		noneFree atomic.Int64
		errs     = make(chan error, users*rounds)
	)
	for u := range users {
		wg.Go(func() {
			user := "user-" + strconv.Itoa(u)
			<-start
			st, r, err := claim(srvs[u%len(srvs)].url, user, files)
			switch {
			case err != nil:
				errs <- err
			case st == http.StatusConflict:
				noneFree.Add(1)
			case st != http.StatusOK:
				errs <- fmt.Errorf("%s: claim status %d", user, st)
			default:
				mu.Lock()
				defer mu.Unlock()
				if h, ok := winners[r.Lock.File]; ok {
					errs <- fmt.Errorf("%s and %s both claimed %s", h, user, r.Lock.File)
				}
				winners[r.Lock.File] = user
			}
		})
	}
	close(start)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if len(winners) != nfiles || noneFree.Load() != users-nfiles {
		t.Fatalf("%d winners, %d none_free; want %d, %d", len(winners), noneFree.Load(), nfiles, users-nfiles)
	}
	st := srvs[0].status(project)
	if len(st.Locks) != nfiles {
		t.Fatalf("status has %d locks", len(st.Locks))
	}
	for _, l := range st.Locks {
		if winners[l.File] != l.User {
			t.Fatalf("status: %s held by %s, claim said %s", l.File, l.User, winners[l.File])
		}
	}
	acquired := int64(nfiles)

	// Rounds of claims from shuffled lists, some switches, some unlocks.
	var acq, unl, sw, refused atomic.Int64
	for u := range users {
		wg.Go(func() {
			user := "user-" + strconv.Itoa(u)
			rng := rand.New(rand.NewPCG(uint64(u), 11))
			for r := range rounds {
				base := srvs[(u+r)%len(srvs)].url
				list := append([]string(nil), files[:3+rng.IntN(nfiles-2)]...)
				rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
				code, reply, err := claim(base, user, list)
				switch {
				case err != nil:
					errs <- err
					return
				case code == http.StatusConflict:
					refused.Add(1)
					continue
				case code != http.StatusOK:
					errs <- fmt.Errorf("%s: claim status %d", user, code)
					return
				}
				if !reply.Renewed {
					acq.Add(1)
				}
				if reply.Released != nil {
					sw.Add(1)
				}
				if rng.IntN(2) == 0 {
					code, err := postJSON(base+"/unlock", map[string]any{"project_id": project, "file": reply.Lock.File, "user_id": user}, nil)
					if err != nil || code != http.StatusOK {
						errs <- fmt.Errorf("%s: unlock status %d err %v", user, code, err)
						return
					}
					unl.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d claims won at once; then %d acquisitions, %d switches, %d unlocks, %d none_free", nfiles, acq.Load(), sw.Load(), unl.Load(), refused.Load())
	if acq.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("no contention: %d acquired, %d refused", acq.Load(), refused.Load())
	}
	last := srvs[0].status(project).LastEventID
	want := int(acquired + acq.Load() + unl.Load() + sw.Load())
	var logs [][]string
	for i, c := range streams {
		c.log.waitEventID(t, last)
		evs := c.log.all()[1:]
		if len(evs) != want {
			t.Fatalf("instance %d streamed %d events, clients saw %d changes", i, len(evs), want)
		}
		logs = append(logs, replay(t, evs, acquired+acq.Load(), unl.Load(), sw.Load()))
	}
	for i := 1; i < len(logs); i++ {
		for j := range logs[0] {
			if logs[0][j] != logs[i][j] {
				t.Fatalf("instances differ at event %d: %s vs %s", j, logs[0][j], logs[i][j])
			}
		}
	}
}
