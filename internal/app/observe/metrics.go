// Package observe feeds the admin metrics from the engine's events
// (options.Observer) and adds the engine's own collectors: refusals by
// reason and the descriptor budget.
package observe

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/switchyard-mail/switchyard/admin/metrics"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/internal/version"
	"github.com/switchyard-mail/switchyard/router"
)

// NewMetrics builds the registry GET /metrics serves and the collectors the
// engine updates through Observer.
func NewMetrics() (*prometheus.Registry, *metrics.Metrics, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, nil, err
		}
	}
	m, err := metrics.NewMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	v := version.Get()
	bi := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: metrics.Namespace, Name: "build_info",
		Help:        "Always 1; its labels say which switchyard runs: version, VCS revision, Go version.",
		ConstLabels: prometheus.Labels{"version": v.Version, "revision": v.Short(), "goversion": v.GoVersion},
	})
	bi.Set(1)
	if err := reg.Register(bi); err != nil {
		return nil, nil, err
	}
	return reg, m, nil
}

// Observer is the engine's options.Observer over the admin metrics.
type Observer struct {
	m        *metrics.Metrics
	refusals *prometheus.CounterVec
	// Bytes, when set, also gets what SessionEnded counts (the
	// console's history).
	Bytes func(toBackend, toClient int64)
}

// New registers the engine's own collectors on reg: refusals by
// reason, and the descriptor budget by kind (read when scraped).
func New(reg prometheus.Registerer, m *metrics.Metrics, fds *fdbudget.Budget) (Observer, error) {
	o := Observer{m: m, refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Name: "limit_refusals_total",
		Help: "Work refused or cut by a limit or a deadline, by reason (docs/LIMITS.md).",
	}, []string{"reason"})}
	if err := reg.Register(o.refusals); err != nil {
		return o, err
	}
	if err := reg.Register(fdCollector{fds}); err != nil {
		return o, err
	}
	return o, nil
}

func (o Observer) Refusal(reason string) { o.refusals.WithLabelValues(reason).Inc() }

// fdCollector exports the descriptor budget.
type fdCollector struct{ b *fdbudget.Budget }

var (
	fdInUseDesc   = prometheus.NewDesc(metrics.Namespace+"_descriptors_in_use", "File descriptors counted by the budget, by kind.", []string{"kind"}, nil)
	fdLimitDesc   = prometheus.NewDesc(metrics.Namespace+"_descriptors_limit", "RLIMIT_NOFILE as read at start.", nil, nil)
	fdRefusedDesc = prometheus.NewDesc(metrics.Namespace+"_descriptors_refused_total", "Requests for descriptors the budget refused, by kind.", []string{"kind"}, nil)
)

func (c fdCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- fdInUseDesc
	ch <- fdLimitDesc
	ch <- fdRefusedDesc
}

func (c fdCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(fdLimitDesc, prometheus.GaugeValue, float64(c.b.Limit()))
	for _, u := range c.b.Usage() {
		ch <- prometheus.MustNewConstMetric(fdInUseDesc, prometheus.GaugeValue, float64(u.InUse), u.Kind)
		ch <- prometheus.MustNewConstMetric(fdRefusedDesc, prometheus.CounterValue, float64(u.Refused), u.Kind)
	}
}

func (o Observer) ConnAccepted(listener, proto string) {
	o.m.ConnsAccepted.WithLabelValues(listener, proto).Inc()
	o.m.ConnsActive.WithLabelValues(listener, proto).Inc()
}

func (o Observer) ConnRefused(listener, proto, reason string) {
	o.m.ConnsRefused.WithLabelValues(listener, proto, reason).Inc()
}

func (o Observer) ConnLeft(listener, proto string) {
	o.m.ConnsActive.WithLabelValues(listener, proto).Dec()
}

func (o Observer) Auth(proto, outcome string) {
	o.m.Auth.WithLabelValues(proto, outcome).Inc()
}

func (o Observer) Route(res router.Result, err error) {
	cache := metrics.CacheMiss
	if res.Cached {
		cache = metrics.CacheHit
	}
	src := res.Source.String()
	if err != nil {
		src = router.SourceNone.String()
	}
	o.m.Routes.WithLabelValues(src, cache).Inc()
}

func (o Observer) Dial(dest string, d time.Duration, err error) {
	o.m.ObserveDial(dest, d, err)
}

func (o Observer) BackendAuth(proto, dest string, d time.Duration) {
	o.m.BackendAuth.WithLabelValues(proto, dest).Observe(d.Seconds())
}

func (o Observer) SessionStarted(proto, dest, bridge string) {
	o.m.Sessions.WithLabelValues(proto, dest, bridge).Inc()
	o.m.SessionsActive.WithLabelValues(proto, dest, bridge).Inc()
}

func (o Observer) SessionEnded(proto, dest, bridge string, toBackend, toClient int64) {
	o.m.SessionsActive.WithLabelValues(proto, dest, bridge).Dec()
	o.m.AddBridgeBytes(bridge, toBackend, toClient)
	if o.Bytes != nil {
		o.Bytes(toBackend, toClient)
	}
}
