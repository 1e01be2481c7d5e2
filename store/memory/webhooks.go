package memory

import (
	"context"
	"runtime"
	"sync"
	"time"
	"weak"

	"filelock/store"
)

var _ store.Deliveries = (*Store)(nil)

// watchPoll is how often WatchProjects looks for projects it does not
// watch yet; events of watched projects are hinted at once.
const watchPoll = 100 * time.Millisecond

// deliveries is a Store's webhook delivery state, guarded by the Store's
// mutex. It lives beside the Store (see state) and holds no reference to
// it.
type deliveries struct {
	leases    map[string]lease             // project → lease
	fences    map[string]int64             // project → last fence handed out
	positions map[string]map[string]string // project → url → acked event id
}

type lease struct {
	owner string
	fence int64
	until time.Time
}

// states maps a Store to its delivery state; an entry goes when its Store
// is garbage.
var states sync.Map // weak.Pointer[Store] → *deliveries

// state returns the store's delivery state. Called with s.mu held.
func (s *Store) state() *deliveries {
	key := weak.Make(s)
	if d, ok := states.Load(key); ok {
		return d.(*deliveries)
	}
	d := &deliveries{leases: map[string]lease{}, fences: map[string]int64{}, positions: map[string]map[string]string{}}
	states.Store(key, d)
	runtime.AddCleanup(s, func(k weak.Pointer[Store]) { states.Delete(k) }, key)
	return d
}

// WebhookProjects implements store.Deliveries.
func (s *Store) WebhookProjects(ctx context.Context) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.projects))
	for id, p := range s.projects {
		if len(p.hist) > 0 {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// LeaseDelivery implements store.Deliveries.
func (s *Store) LeaseDelivery(ctx context.Context, projectID, owner string, fence int64, ttl time.Duration) (int64, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	d, now := s.state(), time.Now()
	l, held := d.leases[projectID]
	held = held && now.Before(l.until)
	switch {
	case held && l.owner == owner && (fence == 0 || fence == l.fence):
		l.until = now.Add(ttl)
		d.leases[projectID] = l
		return l.fence, nil
	case fence != 0:
		return 0, store.ErrLeaseLost
	case held:
		return 0, nil
	}
	next := max(d.fences[projectID]+1, now.UnixMicro())
	d.fences[projectID] = next
	d.leases[projectID] = lease{owner: owner, fence: next, until: now.Add(ttl)}
	return next, nil
}

// holds reports whether owner holds the project's lease with fence.
func (d *deliveries) holds(projectID, owner string, fence int64) bool {
	l, ok := d.leases[projectID]
	return ok && l.owner == owner && l.fence == fence && time.Now().Before(l.until)
}

// ReleaseDelivery implements store.Deliveries.
func (s *Store) ReleaseDelivery(ctx context.Context, projectID, owner string, fence int64) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if d := s.state(); d.holds(projectID, owner, fence) {
		delete(d.leases, projectID)
	}
	return nil
}

// DeliveryPositions implements store.Deliveries.
func (s *Store) DeliveryPositions(ctx context.Context, projectID string) (map[string]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := map[string]string{}
	for url, id := range s.state().positions[projectID] {
		out[url] = id
	}
	return out, nil
}

// AckDelivery implements store.Deliveries.
func (s *Store) AckDelivery(ctx context.Context, projectID, owner string, fence int64, url, eventID string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	d := s.state()
	if !d.holds(projectID, owner, fence) {
		return store.ErrLeaseLost
	}
	pos := d.positions[projectID]
	if pos == nil {
		pos = map[string]string{}
		d.positions[projectID] = pos
	}
	pos[url] = eventID
	return nil
}

// forgetDeliveries drops the delivery state (lease, fence, positions) of
// projects the store has forgotten (idle, SPEC §8) whose lease is not
// held. A fence handed out later still grows, as it is seeded from the
// clock. Called with s.mu held.
func (s *Store) forgetDeliveries() {
	d, now := s.state(), time.Now()
	// Every project with a lease or positions got a fence.
	for id := range d.fences {
		if _, live := s.projects[id]; live {
			continue
		}
		if l, ok := d.leases[id]; ok && now.Before(l.until) {
			continue
		}
		delete(d.positions, id)
		delete(d.leases, id)
		delete(d.fences, id)
	}
}

// WatchProjects implements store.Deliveries: a feed subscribed to every
// project the store knows, renewed every watchPoll.
func (s *Store) WatchProjects(ctx context.Context) (<-chan string, error) {
	f, err := s.Feed(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan string, 256)
	go func() {
		defer close(out)
		defer f.Close()
		watched := map[string]bool{}
		tick := time.NewTicker(watchPoll)
		defer tick.Stop()
		hint := func(id string) {
			select {
			case out <- id:
			default: // the reader fell behind: one catch-up hint instead
				select {
				case <-out:
				default:
				}
				select {
				case out <- "":
				default:
				}
			}
		}
		for {
			for _, id := range s.watchNew(ctx, f, watched) {
				hint(id)
			}
			select {
			case <-ctx.Done():
				return
			case n, ok := <-f.Notices():
				if !ok {
					return
				}
				hint(n.ProjectID) // a Resync of every project is "": catch up
			case <-tick.C:
			}
		}
	}()
	return out, nil
}

// watchNew subscribes f to the projects not in watched yet (and forgets
// those the store dropped); it returns the new ones that have events.
func (s *Store) watchNew(ctx context.Context, f store.Feed, watched map[string]bool) []string {
	var fresh, gone []string
	if s.begin(ctx) != nil {
		return nil
	}
	for id := range s.projects {
		if !watched[id] {
			fresh = append(fresh, id)
		}
	}
	for id := range watched {
		if s.projects[id] == nil {
			gone = append(gone, id)
		}
	}
	s.forgetDeliveries()
	s.mu.Unlock()
	for _, id := range gone {
		delete(watched, id)
		_ = f.Unsubscribe(ctx, id)
	}
	var hinted []string
	for _, id := range fresh {
		if f.Subscribe(ctx, id) == nil {
			watched[id] = true
			hinted = append(hinted, id)
		}
	}
	return hinted
}
