package check

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"syscall"
	"time"

	"filelock"
	"filelock/client"
)

// Workload is a randomized load of many clients on the instances of one
// store, recorded into a History.
type Workload struct {
	Seed     uint64
	Run      string          // prefix of the project ids, unique per run
	Projects int             // projects, each with its own files and users
	Files    int             // files per project
	Users    int             // users per project
	Clients  int             // concurrent client goroutines
	TTLs     []time.Duration // lock lifetimes asked for (whole seconds, within the server's clamp)
	URLs     []string        // base URLs of the instances
	// Extended enables /claim and GET /locks (the endpoints of SPEC §3
	// added with issue 12); Start detects them.
	Extended bool

	Hist *History

	gate    sync.RWMutex // held by clients per operation; Quiesce takes it
	stop    chan struct{}
	wg      sync.WaitGroup // the clients
	swg     sync.WaitGroup // the subscribers' readers
	streams []*client.Stream
	subIDs  []int
	subProj []string
	nextSub int
	cls     []*client.Client
	cancel  context.CancelFunc
}

// Project returns the id of project i.
func (w *Workload) Project(i int) string { return fmt.Sprintf("%s-p%d", w.Run, i) }

func (w *Workload) file(i int) string {
	names := []string{"images/a.jpg", "images/이미지 b.png", "x/../y:{z}.jpg", "sp ace/%2F.jpg", "c.jpg", "d/e/f.tif"}
	if i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("img/%d.jpg", i)
}

// opTimeout bounds one client request.
const opTimeout = 4 * time.Second

// Start opens two event streams per project (on different instances) and
// starts the clients.
func (w *Workload) Start(ctx context.Context) error {
	if w.Hist == nil {
		w.Hist = NewHistory()
	}
	ctx, w.cancel = context.WithCancel(ctx)
	w.stop = make(chan struct{})
	for _, u := range w.URLs {
		c, err := client.New(u, client.WithReconnectDelay(100*time.Millisecond), client.WithHTTPClient(&http.Client{Timeout: opTimeout}))
		if err != nil {
			return err
		}
		w.cls = append(w.cls, c)
	}
	w.Extended = w.detectExtended(ctx)
	for p := range w.Projects {
		for k := range 2 {
			w.Subscribe(ctx, w.Project(p), (p+k)%len(w.URLs))
		}
	}
	// Wait until every stream has its snapshot, so the history starts
	// with every subscriber in place.
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range w.subIDs {
		for {
			if _, ok := w.Hist.LastSeq(id); ok {
				break
			}
			if time.Now().After(deadline) {
				return errors.New("check: event streams did not open within 30s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for c := range w.Clients {
		rng := rand.New(rand.NewPCG(w.Seed, uint64(c)))
		w.wg.Go(func() { w.client(ctx, c, rng) })
	}
	return nil
}

// Subscribe opens one more event stream of project on instance i, recorded
// in the history; it is closed by Stop.
func (w *Workload) Subscribe(ctx context.Context, project string, i int) int {
	sc, _ := client.New(w.URLs[i], client.WithReconnectDelay(100*time.Millisecond))
	id := w.nextSub
	w.nextSub++
	rec := w.Hist.Subscriber(id, project)
	s := sc.Events(ctx, project, client.StreamOptions{})
	w.streams = append(w.streams, s)
	w.subIDs = append(w.subIDs, id)
	w.subProj = append(w.subProj, project)
	w.swg.Go(func() {
		for ev := range s.C {
			rec(ev)
		}
	})
	return id
}

// detectExtended reports whether the instances serve /claim and GET /locks.
func (w *Workload) detectExtended(ctx context.Context) bool {
	_, err := w.cls[0].Get(ctx, w.Project(0), "probe")
	return !client.IsCode(err, filelock.ENotFound)
}

// Quiesce runs f while no client operation is in flight.
func (w *Workload) Quiesce(f func()) {
	w.Pause()
	defer w.Resume()
	f()
}

// Pause waits until no client operation is in flight and holds new ones
// back until Resume.
func (w *Workload) Pause() { w.gate.Lock() }

// Resume lets the clients go on after Pause.
func (w *Workload) Resume() { w.gate.Unlock() }

// Resync records, for every project, a status read that starts a new
// epoch of its model (after a fault that may have lost writes). It retries
// until each read succeeds or ctx ends. Call it inside Quiesce.
func (w *Workload) Resync(ctx context.Context) error {
	for p := range w.Projects {
		for {
			op := w.do(ctx, 0, w.cls[p%len(w.cls)], Input{Kind: KResync, Project: w.Project(p)})
			if !op.Output.Unknown && op.Output.Code == "" {
				w.Hist.Add(op)
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("check: resync of %s: %w (%s)", w.Project(p), ctx.Err(), op.Output.Err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// Stop ends the clients; the streams stay open until Close.
func (w *Workload) Stop() {
	close(w.stop)
	w.wg.Wait()
}

// Close ends the event streams.
func (w *Workload) Close() {
	for _, s := range w.streams {
		s.Close()
	}
	w.cancel()
	w.swg.Wait()
}

// Drain waits until every project has no lock left (they all expire) and
// every stream has caught up with /status, and returns each project's
// final status.
func (w *Workload) Drain(ctx context.Context, timeout time.Duration) (map[string]Output, error) {
	deadline := time.Now().Add(timeout)
	for {
		final := map[string]Output{}
		done := true
		var why string
		for p := range w.Projects {
			op := w.do(ctx, 0, w.cls[0], Input{Kind: KStatus, Project: w.Project(p)})
			final[w.Project(p)] = op.Output
			if op.Output.Unknown || op.Output.Code != "" || len(op.Output.Locks) > 0 {
				done, why = false, fmt.Sprintf("%s: status %s %s, %d locks", w.Project(p), op.Output.Code, op.Output.Err, len(op.Output.Locks))
			}
		}
		if done {
			for i, id := range w.subIDs {
				want, ok := final[w.subProj[i]]
				if !ok {
					continue // a subscriber of another project
				}
				if seq, _ := w.Hist.LastSeq(id); seq != want.LastID {
					done, why = false, fmt.Sprintf("subscriber %d of %s at %d, status at %d", id, w.subProj[i], seq, want.LastID)
				}
			}
		}
		if done {
			return final, nil
		}
		if time.Now().After(deadline) {
			return final, fmt.Errorf("check: not drained within %v: %s", timeout, why)
		}
		select {
		case <-ctx.Done():
			return final, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// client is one client goroutine: random operations until Stop.
func (w *Workload) client(ctx context.Context, id int, rng *rand.Rand) {
	tokens := map[string]int64{} // last token seen per project/file
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		p := w.Project(rng.IntN(w.Projects))
		in := Input{Project: p, User: fmt.Sprintf("u%d", rng.IntN(w.Users)), File: w.file(rng.IntN(w.Files))}
		ttl := w.TTLs[rng.IntN(len(w.TTLs))]
		switch x := rng.IntN(100); {
		case x < 35:
			in.Kind, in.TTL, in.ReleasePrevious = KLock, ttl, rng.IntN(3) == 0
		case x < 45 && w.Extended:
			in.Kind, in.TTL = KClaim, ttl
			for _, f := range rng.Perm(w.Files)[:1+rng.IntN(w.Files)] {
				in.Files = append(in.Files, w.file(f))
			}
			in.File = ""
		case x < 65:
			in.Kind, in.Force = KUnlock, rng.IntN(20) == 0
			if rng.IntN(2) == 0 {
				in.Token = tokens[p+in.File]
			}
		case x < 80:
			in.Kind, in.File = KHeartbeat, ""
		case x < 90 && w.Extended:
			in.Kind, in.Token = KCheck, tokens[p+in.File]
			if rng.IntN(2) == 0 {
				in.User = ""
			}
		default:
			in.Kind, in.File, in.User = KStatus, "", ""
		}
		w.gate.RLock()
		op := w.do(ctx, id, w.cls[rng.IntN(len(w.cls))], in)
		w.gate.RUnlock()
		if !op.Output.Refused { // a refused connection never reached a server
			w.Hist.Add(op)
		}
		if l := op.Output.Lock; l != nil {
			tokens[p+l.File] = l.Token
		}
		// A short think time keeps the histories checkable.
		select {
		case <-w.stop:
			return
		case <-time.After(time.Duration(5+rng.IntN(30)) * time.Millisecond):
		}
	}
}

// do runs one operation and records its call, reply and times.
func (w *Workload) do(ctx context.Context, clientID int, c *client.Client, in Input) Op {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	op := Op{Client: clientID, Input: in, Call: time.Now()}
	var err error
	out := &op.Output
	switch in.Kind {
	case KLock:
		var r client.LockResult
		r, err = c.Lock(ctx, client.LockRequest{ProjectID: in.Project, File: in.File, UserID: in.User, TTL: in.TTL, ReleasePrevious: in.ReleasePrevious})
		if err == nil {
			out.Lock, out.Released, out.Renewed = view(&r.Lock), view(r.Released), r.Renewed
		}
	case KClaim:
		var r client.LockResult
		r, err = c.Claim(ctx, client.ClaimRequest{ProjectID: in.Project, UserID: in.User, Files: in.Files, TTL: in.TTL})
		if err == nil {
			out.Lock, out.Released, out.Renewed = view(&r.Lock), view(r.Released), r.Renewed
		}
	case KUnlock:
		var l filelock.Lock
		l, err = c.Unlock(ctx, client.UnlockRequest{ProjectID: in.Project, File: in.File, UserID: in.User, Token: in.Token, Force: in.Force})
		if err == nil {
			out.Lock = view(&l)
		}
	case KHeartbeat:
		var r client.HeartbeatResult
		r, err = c.Heartbeat(ctx, in.Project, in.User)
		if err == nil {
			out.Lock = view(&r.Lock)
		}
	case KCheck:
		var l filelock.Lock
		l, err = c.Check(ctx, in.Project, in.File, in.Token, in.User)
		if err == nil {
			out.Lock = view(&l)
		}
	case KStatus, KResync:
		var st client.Status
		st, err = c.Status(ctx, in.Project)
		if err == nil {
			out.Locks = []View{}
			for i := range st.Locks {
				out.Locks = append(out.Locks, *view(&st.Locks[i]))
			}
			out.LastID, _ = filelock.ParseEventID(st.LastEventID)
		}
	}
	op.Return = time.Now()
	var fe *filelock.Error
	switch {
	case err == nil:
	case errors.As(err, &fe) && fe.Code != filelock.EUnavailable && fe.Code != filelock.EInternal:
		out.Code, out.Lock, out.Err = fe.Code, view(fe.Lock), fe.Message
	default:
		out.Unknown, out.Err = true, err.Error()
		out.Refused = errors.Is(err, syscall.ECONNREFUSED)
	}
	return op
}
