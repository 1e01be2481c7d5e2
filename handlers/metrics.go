package handlers

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are one Server's Prometheus metrics, in a registry of its own so
// that many Servers can live in one process (tests).
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec   // by route, method, status
	latency     *prometheus.HistogramVec // by route, method
	acquired    prometheus.Counter       // new locks taken through this instance
	released    *prometheus.CounterVec   // locks given up through this instance, by reason
	storeErrors prometheus.Counter       // store calls answered store_unavailable
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filelock_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "filelock_http_request_duration_seconds", Help: "HTTP request latency by route and method (streams: their lifetime).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		acquired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "filelock_locks_acquired_total", Help: "Locks acquired through this instance (renewals not counted).",
		}),
		released: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filelock_locks_released_total", Help: "Locks released through this instance's commands, by reason (unlocked, forced, switched).",
		}, []string{"reason"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "filelock_store_errors_total", Help: "Store calls that failed or did not answer in time (store_unavailable).",
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.acquired, m.released, m.storeErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watch adds gauges read at scrape time: live connections (SSE streams,
// WebSockets, Socket.IO sockets), and the projects and subscribers the
// instance's event hub serves.
func (m *metrics) watch(connections func() int, hub func() (projects, subscribers int)) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "filelock_connections", Help: "Live SSE streams, WebSockets and Socket.IO sockets of this instance.",
		}, func() float64 { return float64(connections()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "filelock_event_projects", Help: "Projects whose events this instance streams to local subscribers.",
		}, func() float64 { p, _ := hub(); return float64(p) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "filelock_event_subscribers", Help: "Local subscribers of project events.",
		}, func() float64 { _, n := hub(); return float64(n) }),
	)
}

// middleware counts and times every request by its route pattern.
func (m *metrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
		m.latency.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
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
func (m *metrics) handler() gin.HandlerFunc {
	return gin.WrapH(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}
