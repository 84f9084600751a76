package metrics

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/switchyard-mail/switchyard/admin/backend"
)

// Namespace prefixes every metric name.
const Namespace = "switchyard"

// Label values of Metrics.
const (
	DirToBackend = "to_backend"
	DirToClient  = "to_client"

	AuthSuccess        = "success"         // the backend accepted the login
	AuthFailure        = "failure"         // the backend refused it
	AuthBackendFailure = "backend_failure" // the backend could not be reached or answered wrongly
	AuthNoRoute        = "no_route"        // no destination for the account
	AuthTempFail       = "tempfail"        // the mapping store could not answer
	AuthBadInput       = "bad_input"       // unusable credentials or identifier

	CacheHit  = "hit"
	CacheMiss = "miss"

	DialOK    = "ok"
	DialError = "error"
)

// Metrics holds the collectors the engine, router and bridge update. Label
// sets are fixed and bounded: listener and destination ids come from the
// configuration, protocols and the other labels from the constants above;
// never an account or an address.
//
// Updating a child is an atomic add once it is looked up: on a hot path,
// look the child up once (ConnsAccepted.WithLabelValues("imap", "imap")) and
// keep it, e.g. on the listener.
type Metrics struct {
	// ConnsAccepted counts accepted client connections {listener, protocol}.
	ConnsAccepted *prometheus.CounterVec
	// ConnsRefused counts connections refused at accept or before login
	// {listener, protocol, reason}; reason is a short fixed word
	// ("limit", "draining", "proxy_header", "fd_headroom", ...).
	ConnsRefused *prometheus.CounterVec
	// ConnsActive is the number of connections in the reactor {listener, protocol}.
	ConnsActive *prometheus.GaugeVec
	// Sessions counts sessions handed to the bridge {protocol, destination, bridge}.
	Sessions *prometheus.CounterVec
	// SessionsActive is the number of bridged sessions {protocol, destination, bridge}.
	SessionsActive *prometheus.GaugeVec
	// Auth counts login outcomes {protocol, outcome} (Auth* constants).
	Auth *prometheus.CounterVec
	// Routes counts route resolutions {source, cache}: source is store,
	// ring, default or none; cache is hit or miss. The cache hit ratio is
	// sum(cache="hit") / sum(all).
	Routes *prometheus.CounterVec
	// BridgeBytes counts bytes delivered by the bridge {direction, bridge}.
	BridgeBytes *prometheus.CounterVec
	// BackendDial observes backend dial latency, TCP and TLS and PROXY
	// header included {destination, outcome}.
	BackendDial *prometheus.HistogramVec
	// BackendAuth observes the time from sending the replayed login to
	// the backend's verdict {protocol, destination}.
	BackendAuth *prometheus.HistogramVec
	// BreakerOpen is 1 while a destination's breaker keeps it out of
	// service {destination, protocol}.
	BreakerOpen *prometheus.GaugeVec

	// The admin API's own metrics.
	AdminRequests      *prometheus.CounterVec
	AdminConnsRejected prometheus.Counter
	AdminLockouts      prometheus.Counter
}

// Latency buckets for backend dial and auth: 1 ms to ~16 s.
var latencyBuckets = prometheus.ExponentialBuckets(0.001, 2, 15)

// counterVec, gaugeVec and latencyVec declare a collector of the
// switchyard namespace.
func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
}

func latencyVec(name, help string, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: latencyBuckets}, labels)
}

// NewMetrics creates the collectors and registers them on reg. Call it once
// per registry, before building the engine, and give the same registry to
// New (Options.Registry) so that /metrics serves them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		ConnsAccepted:  counterVec("connections_accepted_total", "Client connections accepted.", "listener", "protocol"),
		ConnsRefused:   counterVec("connections_refused_total", "Client connections refused, by reason.", "listener", "protocol", "reason"),
		ConnsActive:    gaugeVec("connections_active", "Client connections in the reactor (before the bridge).", "listener", "protocol"),
		Sessions:       counterVec("sessions_total", "Sessions handed to the bridge.", "protocol", "destination", "bridge"),
		SessionsActive: gaugeVec("sessions_active", "Bridged sessions.", "protocol", "destination", "bridge"),
		Auth:           counterVec("auth_total", "Login outcomes.", "protocol", "outcome"),
		Routes:         counterVec("route_lookups_total", "Route resolutions by source and routing-cache outcome.", "source", "cache"),
		BridgeBytes:    counterVec("bridge_bytes_total", "Bytes delivered by the bridge, by direction and bridge kind.", "direction", "bridge"),
		BackendDial:    latencyVec("backend_dial_seconds", "Backend dial latency (TCP, TLS, PROXY header).", "destination", "outcome"),
		BackendAuth:    latencyVec("backend_auth_seconds", "Time from the replayed login to the backend's verdict.", "protocol", "destination"),
		BreakerOpen:    gaugeVec("breaker_open", "1 while a destination's circuit breaker keeps it out of service.", "destination", "protocol"),
		AdminRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "admin", Name: "requests_total",
			Help: "Admin API requests by status code.",
		}, []string{"code"}),
		AdminConnsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "admin", Name: "connections_rejected_total",
			Help: "Admin API connections closed at once because MaxConns were open.",
		}),
		AdminLockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "admin", Name: "lockouts_total",
			Help: "Client addresses locked (token checks paced) after too many bad tokens.",
		}),
	}
	for _, c := range []prometheus.Collector{
		m.ConnsAccepted, m.ConnsRefused, m.ConnsActive, m.Sessions, m.SessionsActive,
		m.Auth, m.Routes, m.BridgeBytes, m.BackendDial, m.BackendAuth, m.BreakerOpen,
		m.AdminRequests, m.AdminConnsRejected, m.AdminLockouts,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ObserveDial records one backend dial.
func (m *Metrics) ObserveDial(destination string, d time.Duration, err error) {
	outcome := DialOK
	if err != nil {
		outcome = DialError
	}
	m.BackendDial.WithLabelValues(destination, outcome).Observe(d.Seconds())
}

// AddBridgeBytes adds what a session delivered (call it when the session
// ends, or periodically with the deltas).
func (m *Metrics) AddBridgeBytes(bridge string, toBackend, toClient int64) {
	if toBackend > 0 {
		m.BridgeBytes.WithLabelValues(DirToBackend, bridge).Add(float64(toBackend))
	}
	if toClient > 0 {
		m.BridgeBytes.WithLabelValues(DirToClient, bridge).Add(float64(toClient))
	}
}

// SetBreaker records a destination's breaker state for one protocol.
func (m *Metrics) SetBreaker(destination, protocol string, open bool) {
	v := 0.0
	if open {
		v = 1
	}
	m.BreakerOpen.WithLabelValues(destination, protocol).Set(v)
}

// statsCollector exports Backend.Stats() at scrape time as
// switchyard_stats_*: the numbers of GET /stats, without labels.
type statsCollector struct {
	b     backend.Backend
	descs []statDesc
	ready *prometheus.Desc
}

type statDesc struct {
	d   *prometheus.Desc
	t   prometheus.ValueType
	val func(backend.Stats) float64
}

func newStatsCollector(b backend.Backend) *statsCollector {
	c := &statsCollector{b: b}
	add := func(name, help string, t prometheus.ValueType, val func(backend.Stats) float64) {
		c.descs = append(c.descs, statDesc{
			d: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "stats", name), help, nil, nil),
			t: t, val: val,
		})
	}
	counter, gauge := prometheus.CounterValue, prometheus.GaugeValue
	add("accepted_total", "Client connections accepted (GET /stats accepted).", counter, func(s backend.Stats) float64 { return float64(s.Accepted) })
	add("refused_total", "Client connections refused (GET /stats refused).", counter, func(s backend.Stats) float64 { return float64(s.Refused) })
	add("logins_total", "Logins the backend accepted.", counter, func(s backend.Stats) float64 { return float64(s.Logins) })
	add("login_failures_total", "Logins the backend refused.", counter, func(s backend.Stats) float64 { return float64(s.LoginFailures) })
	add("backend_failures_total", "Failures towards a backend.", counter, func(s backend.Stats) float64 { return float64(s.BackendFailures) })
	add("bridged_total", "Sessions handed to the bridge.", counter, func(s backend.Stats) float64 { return float64(s.Bridged) })
	add("active_connections", "Client connections, wherever they are (reactor, bridge, HTTP/2).", gauge, func(s backend.Stats) float64 { return float64(s.ActiveConnections) })
	add("reactor_connections", "Connections in the reactor (pre-auth, routing, login, relayed).", gauge, func(s backend.Stats) float64 { return float64(s.ReactorConnections) })
	add("active_sessions", "Bridged sessions.", gauge, func(s backend.Stats) float64 { return float64(s.ActiveSessions) })
	add("cache_hits_total", "Routing cache hits.", counter, func(s backend.Stats) float64 { return float64(s.CacheHits) })
	add("cache_misses_total", "Routing cache misses.", counter, func(s backend.Stats) float64 { return float64(s.CacheMisses) })
	add("cache_entries", "Entries in the routing cache.", gauge, func(s backend.Stats) float64 { return float64(s.CacheEntries) })
	c.ready = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "ready"), "1 when the proxy accepts new connections, 0 while draining.", nil, nil)
	return c
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d.d
	}
	ch <- c.ready
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Stats()
	for _, d := range c.descs {
		ch <- prometheus.MustNewConstMetric(d.d, d.t, d.val(s))
	}
	r := 0.0
	if c.b.Ready() {
		r = 1
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, r)
}

// RegisterStats exports b's Stats and Ready on reg as switchyard_stats_*
// and switchyard_ready (read at scrape time). New calls it; a process
// that serves /metrics without the admin API calls it itself. A second
// call on the same registry does nothing.
func RegisterStats(reg prometheus.Registerer, b backend.Backend) error {
	return RegisterOrReuse(reg, newStatsCollector(b))
}

// registerOrReuse registers c, or reuses an equal collector already there.
func RegisterOrReuse(reg prometheus.Registerer, c prometheus.Collector) error {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return nil
		}
		return err
	}
	return nil
}
