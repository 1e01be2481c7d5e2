package redis

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock/store"
)

// Feed tuning: the buffer of Notices, how long the receive loop waits for a
// message before it pings the connection, and its backoff while Redis is
// unreachable.
const (
	feedBuffer     = 1024
	feedPingAfter  = 15 * time.Second
	feedMaxBackoff = time.Second
)

// Feed implements store.Store: one Pub/Sub connection per Feed. go-redis
// reconnects and resubscribes by itself; every subscription confirmation
// that no Subscribe waits for is such a resubscription, after which the
// Feed sends a Resync notice for the project (messages published while the
// connection was down are lost).
func (s *Store) Feed(ctx context.Context) (store.Feed, error) {
	f := &feed{
		s:         s,
		ps:        s.rdb.Subscribe(context.WithoutCancel(ctx)),
		out:       make(chan store.Notice, feedBuffer),
		waiters:   map[string][]chan struct{}{},
		unwaiters: map[string][]chan struct{}{},
		done:      make(chan struct{}),
		exited:    make(chan struct{}),
	}
	go f.loop()
	return f, nil
}

type feed struct {
	s   *Store
	ps  *goredis.PubSub
	out chan store.Notice

	mu        sync.Mutex
	waiters   map[string][]chan struct{} // channel -> Subscribe calls awaiting confirmation
	unwaiters map[string][]chan struct{} // channel -> Unsubscribe calls awaiting confirmation

	closeOnce sync.Once
	done      chan struct{} // closed by Close
	exited    chan struct{} // closed when loop has returned
}

func (f *feed) Notices() <-chan store.Notice { return f.out }

// Subscribe implements store.Feed: it returns once Redis confirmed the
// subscription.
func (f *feed) Subscribe(ctx context.Context, projectID string) error {
	ch := f.s.channel(projectID)
	err := f.await(ctx, f.waiters, ch, f.ps.Subscribe)
	if err == nil {
		return nil
	}
	// go-redis keeps a channel it was asked for even when the request
	// failed, and would resubscribe it on every reconnect: forget it, since
	// the caller will not Unsubscribe what it was told failed.
	uctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = f.ps.Unsubscribe(uctx, ch)
	cancel()
	return store.Unavailable(err)
}

// Unsubscribe implements store.Feed: it returns once Redis confirmed the
// unsubscription, so no event appended afterwards is notified (a PUBLISH
// from another connection could otherwise overtake the UNSUBSCRIBE). A
// broken connection ends the wait too: go-redis renews only the channels
// still subscribed.
func (f *feed) Unsubscribe(ctx context.Context, projectID string) error {
	err := f.await(ctx, f.unwaiters, f.s.channel(projectID), f.ps.Unsubscribe)
	if err == nil || errors.Is(err, errFeedClosed) { // closed: no notice comes any more
		return nil
	}
	return wrap(err)
}

var errFeedClosed = errors.New("feed closed")

// await sends a (un)subscription of channel ch and waits, as a waiter of
// ch in waiters, until Redis confirms it (nil), ctx ends, or the feed
// closes (errFeedClosed); a waiter not confirmed is forgotten.
func (f *feed) await(ctx context.Context, waiters map[string][]chan struct{}, ch string,
	send func(context.Context, ...string) error) error {
	w := make(chan struct{})
	f.mu.Lock()
	waiters[ch] = append(waiters[ch], w)
	f.mu.Unlock()
	err := send(ctx, ch)
	if err == nil {
		select {
		case <-w:
			return nil
		case <-ctx.Done():
			err = ctx.Err()
		case <-f.done:
			err = errFeedClosed
		}
	}
	f.forget(waiters, ch, w)
	return err
}

// forget removes waiter w of channel ch from waiters.
func (f *feed) forget(waiters map[string][]chan struct{}, ch string, w chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ws := waiters[ch]
	for i, x := range ws {
		if x == w {
			waiters[ch] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(waiters[ch]) == 0 {
		delete(waiters, ch)
	}
}

// confirm releases the waiters of channel ch in waiters (every channel,
// ch ""), and reports whether there were any.
func (f *feed) confirm(waiters map[string][]chan struct{}, ch string) bool {
	f.mu.Lock()
	var release [][]chan struct{}
	if ch == "" {
		for c, ws := range waiters {
			release = append(release, ws)
			delete(waiters, c)
		}
	} else if ws, ok := waiters[ch]; ok {
		release = append(release, ws)
		delete(waiters, ch)
	}
	f.mu.Unlock()
	for _, ws := range release {
		for _, w := range ws {
			close(w)
		}
	}
	return len(release) > 0
}

// Close implements store.Feed; Notices is closed when it returns.
func (f *feed) Close() error {
	f.closeOnce.Do(func() {
		close(f.done)
		_ = f.ps.Close()
	})
	<-f.exited
	return nil
}

func (f *feed) loop() {
	defer close(f.exited)
	defer close(f.out)
	ctx := context.Background()
	backoff := 10 * time.Millisecond
	lost := false // the connection broke: resync every project once it is back
	for {
		msg, err := f.ps.ReceiveTimeout(ctx, feedPingAfter)
		select {
		case <-f.done:
			return
		default:
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				_ = f.ps.Ping(ctx) // keeps a silent connection checked
				continue
			}
			lost = true
			// An unsubscribed channel is not renewed on the new connection.
			f.confirm(f.unwaiters, "")
			select { // go-redis reconnects and resubscribes on the next Receive
			case <-f.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, feedMaxBackoff)
			continue
		}
		backoff = 10 * time.Millisecond
		if lost {
			// The first message on the new connection follows the one
			// SUBSCRIBE that renewed every channel, so all are in effect:
			// whatever was published meanwhile is caught up from history.
			lost = false
			if !f.send(store.Notice{Resync: true}) {
				return
			}
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "unsubscribe" {
				f.confirm(f.unwaiters, m.Channel)
				continue
			}
			if m.Kind != "subscribe" {
				continue
			}
			if !f.confirm(f.waiters, m.Channel) && !f.send(store.Notice{ProjectID: f.s.projectOf(m.Channel), Resync: true}) {
				return
			}
		case *goredis.Message:
			p := f.s.projectOf(m.Channel)
			if p == "" {
				continue
			}
			n := store.Notice{ProjectID: p}
			if ev, err := decodeEvent(p, m.Payload); err == nil {
				n.Event = ev
			} else {
				n.Resync = true
			}
			if !f.send(n) {
				return
			}
		}
	}
}

// send delivers a notice, waiting for the reader; false when the feed closed.
func (f *feed) send(n store.Notice) bool {
	select {
	case f.out <- n:
		return true
	case <-f.done:
		return false
	}
}
