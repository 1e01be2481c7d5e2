// Package metrics holds filelock's Prometheus collectors (SPEC §9) in a
// registry of their own, one per server, so that many servers can live in
// one process (tests). Every family is registered, with each of its known
// label values at 0, when New returns. Every method is safe for concurrent
// use and does nothing on a nil *Metrics, so a package may count through
// one it was not given.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"filelock"
)

// Label values of the transport label.
const (
	SSE      = "sse"
	WS       = "ws"
	SocketIO = "socketio"
)

// Transports are the values of the transport label.
var Transports = []string{SSE, WS, SocketIO}

// ReleaseReasons are the values of filelock_locks_released_total's reason.
var ReleaseReasons = []string{filelock.ReasonUnlocked, filelock.ReasonExpired, filelock.ReasonDisconnected,
	filelock.ReasonForced, filelock.ReasonSwitched}

// ConflictCodes are the values of filelock_lock_conflicts_total's code: the
// refusals of a lock, claim or unlock command because of another holder or
// token.
var ConflictCodes = []string{filelock.EFileLocked, filelock.EUserHasLock, filelock.ENoneFree,
	filelock.ENotOwner, filelock.EStaleToken}

// Reasons a subscriber is dropped (filelock_subscribers_dropped_total).
const (
	DropLagging = "lagging" // its queue (limits.send_queue) overflowed
	DropResync  = "resync"  // the events it needs are gone from the history
)

// DropReasons are the values of filelock_subscribers_dropped_total's reason.
var DropReasons = []string{DropLagging, DropResync}

// Results of one webhook delivery attempt.
const (
	WebhookDelivered = "delivered" // 2xx
	WebhookFailed    = "failed"    // another status, no answer in time, or no connection: retried
)

// WebhookResults are the values of filelock_webhook_deliveries_total's result.
var WebhookResults = []string{WebhookDelivered, WebhookFailed}

// StoreOps are the values of filelock_store_duration_seconds's op: the
// store.Store methods a request or a connection calls.
var StoreOps = []string{"acquire", "claim", "release", "heartbeat", "status", "lock", "events",
	"connect", "disconnect", "refresh", "ping"}

// Build identifies the running binary (filelock_build_info).
type Build struct {
	Version, Commit, GoVersion string
}

// Metrics are one server's collectors.
type Metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	requestTime   *prometheus.HistogramVec
	acquired      prometheus.Counter
	released      *prometheus.CounterVec
	conflicts     *prometheus.CounterVec
	connections   *prometheus.GaugeVec
	delivered     *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	storeDuration *prometheus.HistogramVec
	storeErrors   prometheus.Counter
	webhooks      *prometheus.CounterVec

	// The children the hot paths count into, looked up once: by
	// requestKey (requestChildren), by op of StoreOps (read-only after New).
	requestChildren sync.Map // requestKey → requestChild
	storeOps        map[string]prometheus.Observer
	deliveredTo     map[string]prometheus.Counter // by transport of Transports
}

type requestKey struct {
	route, method string
	status        int
}

type requestChild struct {
	count prometheus.Counter
	time  prometheus.Observer
}

// New returns the collectors, registered with their known label values.
func New(b Build) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filelock_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "filelock_http_request_duration_seconds", Help: "HTTP request latency by route and method (streams: their lifetime).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		acquired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "filelock_locks_acquired_total", Help: "Locks acquired through this instance (renewals not counted).",
		}),
		released: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filelock_locks_released_total", Help: "Locks released, by reason, counted by the instance that carried the release out.",
		}, []string{"reason"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filelock_lock_conflicts_total", Help: "Lock, claim and unlock commands (any transport) refused because of another holder or token, by error code.",
		}, []string{"code"}),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "filelock_connections", Help: "Live connections of this instance, by transport (sse, ws, socketio).",
		}, []string{"transport"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filelock_events_delivered_total", Help: "Events written to clients of this instance, by transport.",
		}, []string{"transport"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filelock_subscribers_dropped_total", Help: "Subscribers whose stream was ended because they could not be given an event (lagging: queue full; resync: history gone), by reason.",
		}, []string{"reason"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "filelock_store_duration_seconds", Help: "Duration of store calls, by operation (failed calls included).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2},
		}, []string{"op"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "filelock_store_errors_total", Help: "Store calls that failed or did not answer in time (store_unavailable).",
		}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filelock_webhook_deliveries_total", Help: "Webhook delivery attempts, by result (delivered: 2xx; failed: retried).",
		}, []string{"result"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "filelock_build_info", Help: "Always 1: the version, commit and Go version of the running binary.",
	}, []string{"version", "commit", "goversion"})
	build.WithLabelValues(b.Version, b.Commit, b.GoVersion).Set(1)
	for _, v := range ReleaseReasons {
		m.released.WithLabelValues(v)
	}
	for _, v := range ConflictCodes {
		m.conflicts.WithLabelValues(v)
	}
	m.deliveredTo = make(map[string]prometheus.Counter, len(Transports))
	for _, v := range Transports {
		m.connections.WithLabelValues(v)
		m.deliveredTo[v] = m.delivered.WithLabelValues(v)
	}
	for _, v := range DropReasons {
		m.dropped.WithLabelValues(v)
	}
	m.storeOps = make(map[string]prometheus.Observer, len(StoreOps))
	for _, v := range StoreOps {
		m.storeOps[v] = m.storeDuration.WithLabelValues(v)
	}
	for _, v := range WebhookResults {
		m.webhooks.WithLabelValues(v)
	}
	m.reg.MustRegister(m.requests, m.requestTime, m.acquired, m.released, m.conflicts, m.connections,
		m.delivered, m.dropped, m.storeDuration, m.storeErrors, m.webhooks, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Register adds more collectors (e.g. gauges read at scrape time).
func (m *Metrics) Register(cs ...prometheus.Collector) {
	if m != nil {
		m.reg.MustRegister(cs...)
	}
}

// Request counts one HTTP request of route (its pattern) and its latency.
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	k := requestKey{route, method, status}
	v, ok := m.requestChildren.Load(k)
	if !ok {
		v, _ = m.requestChildren.LoadOrStore(k, requestChild{
			count: m.requests.WithLabelValues(route, method, strconv.Itoa(status)),
			time:  m.requestTime.WithLabelValues(route, method),
		})
	}
	c := v.(requestChild)
	c.count.Inc()
	c.time.Observe(d.Seconds())
}

// LockAcquired counts a new lock (not a renewal).
func (m *Metrics) LockAcquired() {
	if m != nil {
		m.acquired.Inc()
	}
}

// LockReleased counts a release this instance carried out.
func (m *Metrics) LockReleased(reason string) {
	if m != nil {
		m.released.WithLabelValues(reason).Inc()
	}
}

// Conflict counts a request refused with code (one of ConflictCodes;
// other codes are not conflicts and are ignored).
func (m *Metrics) Conflict(code string) {
	if m == nil {
		return
	}
	for _, c := range ConflictCodes {
		if c == code {
			m.conflicts.WithLabelValues(code).Inc()
			return
		}
	}
}

// ConnOpened counts a live connection of transport; the returned function
// counts it closed (once, however often it is called).
func (m *Metrics) ConnOpened(transport string) (closed func()) {
	if m == nil {
		return func() {}
	}
	g := m.connections.WithLabelValues(transport)
	g.Inc()
	return sync.OnceFunc(g.Dec)
}

// EventsDelivered counts n events written to a client of transport.
func (m *Metrics) EventsDelivered(transport string, n int) {
	if m == nil || n <= 0 {
		return
	}
	c, ok := m.deliveredTo[transport]
	if !ok {
		c = m.delivered.WithLabelValues(transport)
	}
	c.Add(float64(n))
}

// SubscriberDropped counts a subscriber dropped for reason (DropReasons).
func (m *Metrics) SubscriberDropped(reason string) {
	if m != nil {
		m.dropped.WithLabelValues(reason).Inc()
	}
}

// StoreCall records the duration of one store call of op (StoreOps).
func (m *Metrics) StoreCall(op string, d time.Duration) {
	if m == nil {
		return
	}
	if o, ok := m.storeOps[op]; ok {
		o.Observe(d.Seconds())
		return
	}
	m.storeDuration.WithLabelValues(op).Observe(d.Seconds())
}

// StoreError counts a store call answered store_unavailable.
func (m *Metrics) StoreError() {
	if m != nil {
		m.storeErrors.Inc()
	}
}

// WebhookDelivery counts one delivery attempt with its result
// (WebhookDelivered or WebhookFailed).
func (m *Metrics) WebhookDelivery(result string) {
	if m != nil {
		m.webhooks.WithLabelValues(result).Inc()
	}
}
