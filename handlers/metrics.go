package handlers

import (
	"errors"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"filelock/events"
	"filelock/metrics"
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
