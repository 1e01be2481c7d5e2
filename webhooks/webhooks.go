// Package webhooks delivers a store's events to HTTP receivers as Standard
// Webhooks 1.0 (SPEC §5 Webhooks): one signed POST per event and receiver
// URL, retried with exponential backoff until a 2xx, in the order of the
// event's project, at least once, by one instance at a time among those
// sharing the store.
//
// The Deliverer reads the store's log through Store.Events like any other
// reader and keeps its state in the store (store.Deliveries): a delivery
// lease per project, whose fence the store checks on every
// acknowledgement, and the acknowledged position per project and URL.
// An instance that dies hands its projects over when their leases lapse;
// one that restarts resumes from the first unacknowledged event; when that
// event has left the history, a snapshot is delivered in its place.
//
// Delivery runs on goroutines of its own, one per project being delivered
// and URL: a slow or dead receiver delays only the later events of that
// project to that URL, never lock operations or event fan-out, and no
// store call is held open while a receiver is waited for.
package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"filelock/store"
)

// Results of one delivery attempt, as Options.OnResult reports them.
const (
	ResultDelivered   = "delivered"   // the receiver answered 2xx
	ResultRejected    = "rejected"    // it answered something else
	ResultTimeout     = "timeout"     // no answer within Options.Timeout
	ResultUnreachable = "unreachable" // no connection, or it broke
)

// Results lists every result OnResult may report.
var Results = []string{ResultDelivered, ResultRejected, ResultTimeout, ResultUnreachable}

// Options configure a Deliverer. URLs, Secret, Timeout and MaxBackoff are
// required (webhooks.* of SPEC §7); the other fields have defaults.
type Options struct {
	URLs       []string      // receivers; every event goes to each (once, if listed twice)
	Secret     string        // whsec_ + base64 of the signing key
	Events     []string      // event types delivered (snapshots replacing lost history always are)
	Timeout    time.Duration // bound on one attempt
	MaxBackoff time.Duration // longest wait between attempts

	// MinBackoff is the wait after a first failed attempt; it doubles up
	// to MaxBackoff. Default 500 ms.
	MinBackoff time.Duration
	// Lease is how long a project's delivery lease lasts without renewal,
	// so how long a dead instance's projects wait for another instance.
	// It is renewed every third of it, and an attempt starts only while
	// the lease is held for Timeout more. Default 10 s; at least
	// 2 × Timeout (a shorter one is raised to that).
	Lease time.Duration
	// Rescan is how often every project with events is checked for
	// undelivered ones, beside the store's live hints. Default 30 s.
	Rescan time.Duration
	// IdleAfter is how long a caught-up project keeps its lease (and its
	// goroutines) waiting for more events. Default 30 s.
	IdleAfter time.Duration
	// StoreTimeout bounds each store call. Default store.CallTimeout.
	StoreTimeout time.Duration
	// Owner names this instance in the leases; default host-pid-random.
	Owner string
	// Client sends the POSTs; default a client that follows no redirects
	// (a 3xx is retried like any answer that is not 2xx).
	Client *http.Client
	// Logger gets delivery failures (default: discarded).
	Logger *slog.Logger
	// OnResult, when set, is called after every attempt with one of Results.
	OnResult func(result string)
}

// Deliverer delivers the events of every project of a store. Create it
// with New and run it with Run.
type Deliverer struct {
	st     store.Store
	ds     store.Deliveries
	opts   Options
	key    []byte
	events map[string]bool
	sem    chan struct{} // bounds concurrent checks of idle projects

	workers map[string]*worker // project → its worker; Run's alone
}

// New returns a Deliverer of the store's events, which must implement
// store.Deliveries. It checks opts.
func New(st store.Store, opts Options) (*Deliverer, error) {
	ds, ok := st.(store.Deliveries)
	if !ok {
		return nil, fmt.Errorf("webhooks: store %T keeps no delivery state", st)
	}
	if len(opts.URLs) == 0 {
		return nil, errors.New("webhooks: no URLs")
	}
	b64, ok := strings.CutPrefix(opts.Secret, "whsec_")
	key, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(key) == 0 {
		return nil, errors.New("webhooks: the secret is not whsec_ + base64")
	}
	if opts.Timeout <= 0 || opts.MaxBackoff <= 0 {
		return nil, errors.New("webhooks: Timeout and MaxBackoff must be positive")
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	opts.MinBackoff = min(opts.MinBackoff, opts.MaxBackoff)
	if opts.Lease <= 0 {
		opts.Lease = 10 * time.Second
	}
	opts.Lease = max(opts.Lease, 2*opts.Timeout)
	if opts.Rescan <= 0 {
		opts.Rescan = 30 * time.Second
	}
	if opts.IdleAfter <= 0 {
		opts.IdleAfter = 30 * time.Second
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = store.CallTimeout
	}
	if opts.Owner == "" {
		host, _ := os.Hostname()
		var b [6]byte
		_, _ = rand.Read(b[:])
		opts.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if opts.Client == nil {
		// Projects are delivered side by side: keep their connections.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		opts.Client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Deliverer{st: st, ds: ds, opts: opts, key: key, events: map[string]bool{},
		sem: make(chan struct{}, 4), workers: map[string]*worker{}}
	d.opts.URLs = nil
	for _, u := range opts.URLs { // a URL listed twice is one receiver
		if !slices.Contains(d.opts.URLs, u) {
			d.opts.URLs = append(d.opts.URLs, u)
		}
	}
	for _, e := range opts.Events {
		d.events[e] = true
	}
	return d, nil
}

// Run delivers until ctx ends, then gives up the leases it holds (so that
// another instance takes over at once) and returns nil. Store outages are
// waited out; Run never fails because of them.
func (d *Deliverer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	exits := make(chan *worker)
	type listing struct {
		ids []string
		err error
	}
	scanned := make(chan listing, 1)
	var hints <-chan string
	watchRetry := time.NewTimer(0)
	rescan := time.NewTimer(time.Hour)
	rescan.Stop()
	// rescanWanted: hints may have been lost after the listing under way
	// began, so it may miss their projects: list again once it is done.
	scanning, rescanWanted := false, false
	listRetry := newBackoff(min(time.Second, d.opts.Rescan), d.opts.Rescan)
	startScan := func() {
		if scanning {
			rescanWanted = true
			return
		}
		scanning = true
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, d.opts.StoreTimeout)
			ids, err := d.ds.WebhookProjects(sctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				d.opts.Logger.Warn("webhooks: listing projects failed", "err", err)
			}
			scanned <- listing{ids, err}
		})
	}
	kick := func(project string) {
		if w := d.workers[project]; w != nil {
			w.kick()
			return
		}
		w := &worker{d: d, project: project, kickc: make(chan struct{}, 1)}
		d.workers[project] = w
		wg.Go(func() {
			w.run(ctx)
			select {
			case exits <- w:
			case <-ctx.Done():
			}
		})
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-watchRetry.C:
			h, err := d.ds.WatchProjects(ctx)
			if err != nil {
				watchRetry.Reset(time.Second)
				startScan() // meanwhile, find work by listing
				continue
			}
			hints = h
			startScan()
		case h, ok := <-hints:
			switch {
			case !ok:
				hints = nil
				watchRetry.Reset(time.Second)
			case h == "":
				startScan()
			default:
				kick(h)
			}
		case l := <-scanned:
			scanning = false
			for _, p := range l.ids {
				kick(p)
			}
			switch {
			case rescanWanted:
				rescanWanted = false
				startScan()
			case l.err != nil: // try again soon, backing off to Rescan
				rescan.Reset(listRetry.step())
			default:
				listRetry.reset()
				rescan.Reset(d.opts.Rescan)
			}
		case <-rescan.C:
			startScan()
		case w := <-exits:
			delete(d.workers, w.project)
			select {
			case <-w.kickc: // hinted after its last look: look again
				kick(w.project)
			default:
			}
		}
	}
}
