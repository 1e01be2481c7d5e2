package handlers

import (
	"errors"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"filelock"
	"filelock/events"
	"filelock/metrics"
	"filelock/session"
)

// serverMetrics are the Server's collectors (Config.Metrics, or a registry
// of its own) with what the handlers add to them.
type serverMetrics struct{ *metrics.Metrics }

// watch adds gauges read at scrape time: the projects and subscribers the
// instance's event hub serves.
func (m serverMetrics) watch(hub func() (projects, subscribers int)) {
	m.Register(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "filelock_event_projects", Help: "Projects whose events this instance streams to local subscribers.",
		}, func() float64 { p, _ := hub(); return float64(p) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "filelock_event_subscribers", Help: "Local subscribers of project events.",
		}, func() float64 { _, n := hub(); return float64(n) }),
	)
}

// dropped counts a subscription the hub ended for err (events.ErrLagging,
// events.ErrResync); other endings (the hub closing) are not drops.
func (m serverMetrics) dropped(err error) {
	switch {
	case errors.Is(err, events.ErrLagging):
		m.SubscriberDropped(metrics.DropLagging)
	case errors.Is(err, events.ErrResync):
		m.SubscriberDropped(metrics.DropResync)
	}
}

// middleware counts and times every request by its route pattern.
func (m serverMetrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.Request(route, c.Request.Method, c.Writer.Status(), time.Since(start))
	}
}

// handler serves GET /metrics: the registry in the Prometheus text format.
//
//	@Summary		Prometheus metrics
//	@Description	Request counts and latency by route and status, locks acquired and released by reason, store errors,
//	@Description	live connections and event subscribers.
//	@Tags			operations
//	@Produce		plain
//	@Success		200	{string}	string	"Prometheus text exposition format"
//	@Router			/metrics [get]
func (m serverMetrics) handler() gin.HandlerFunc {
	return gin.WrapH(m.Handler())
}

// openSession opens a session on transport t and counts it by transport in
// filelock_connections until it ends, the frames it writes in
// filelock_events_delivered_total, and an end for lagging or resync in
// filelock_subscribers_dropped_total.
func (s *Server) openSession(t session.Transport, be backend, o session.Options) (*session.Session, error) {
	mt := &meteredTransport{Transport: t, m: s.metrics, label: transportLabel(t.Name())}
	mt.closed = s.metrics.ConnOpened(mt.label)
	var wrapped session.Transport = mt
	if p, ok := t.(session.Prober); ok {
		wrapped = meteredProber{mt, p}
	}
	ss, err := s.rt.sessions.Open(wrapped, be, o)
	if err != nil {
		mt.end()
	}
	return ss, err
}

type meteredTransport struct {
	session.Transport
	m      serverMetrics
	label  string
	closed func()
	once   sync.Once
}

type meteredProber struct {
	*meteredTransport
	p session.Prober
}

func (t meteredProber) Gone() bool { return t.p.Gone() }

func (t *meteredTransport) Write(frames []*session.Frame) error {
	err := t.Transport.Write(frames)
	if err == nil {
		t.m.EventsDelivered(t.label, len(frames))
	}
	return err
}

func (t *meteredTransport) Close(r session.Reason) {
	switch r {
	case session.Lagging:
		t.m.SubscriberDropped(metrics.DropLagging)
	case session.Resync:
		t.m.SubscriberDropped(metrics.DropResync)
	}
	t.end()
	t.Transport.Close(r)
}

func (t *meteredTransport) end() { t.once.Do(t.closed) }

// transportLabel is the transport label of a session's transport name.
func transportLabel(transport string) string {
	if transport == "sio" {
		return metrics.SocketIO
	}
	return transport
}

// tracked counts a live connection of transport until release is called
// (the returned function releases and counts it closed).
func (m serverMetrics) tracked(transport string, release func()) func() {
	closed := m.ConnOpened(transport)
	return func() { closed(); release() }
}

// delivering counts each event deliver hands to the transport.
func (m serverMetrics) delivering(transport string, deliver func(filelock.Event) bool) func(filelock.Event) bool {
	label := transportLabel(transport)
	return func(ev filelock.Event) bool {
		ok := deliver(ev)
		if ok {
			m.EventsDelivered(label, 1)
		}
		return ok
	}
}
