package admin

import (
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/metrics"
	"github.com/switchyard-mail/switchyard/limits"
)

// scrape GETs /metrics with the token, parses it with the Prometheus text
// parser and returns every sample as "name{l="v",...}" -> value (counters,
// gauges, untyped; histograms as _count and _sum).
func scrape(t *testing.T, s *Server) map[string]float64 {
	t.Helper()
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("Authorization", "Bearer "+testToken)
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("/metrics: %d %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/metrics Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(w.Body.String()))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, w.Body)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name + labels(m)
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				out[key] = m.GetUntyped().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+labels(m)] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+labels(m)] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func labels(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"=\""+l.GetValue()+"\"")
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

func TestMetricsParseAndCountersMove(t *testing.T) {
	h := newHarness(t, nil)
	m := h.s.Metrics()
	before := scrape(t, h.s)
	for _, name := range []string{"switchyard_stats_accepted_total", "switchyard_ready", "go_goroutines", "process_open_fds"} {
		if _, ok := before[name]; !ok {
			t.Errorf("%s missing from /metrics", name)
		}
	}

	// A scripted session, as the engine would report it.
	m.ConnsAccepted.WithLabelValues("imap", "imap").Inc()
	m.ConnsActive.WithLabelValues("imap", "imap").Inc()
	m.Routes.WithLabelValues(backend.SourceStore, metrics.CacheMiss).Inc()
	m.ObserveDial("new", 3*time.Millisecond, nil)
	m.BackendAuth.WithLabelValues("imap", "new").Observe(0.012)
	m.Auth.WithLabelValues("imap", metrics.AuthSuccess).Inc()
	m.ConnsActive.WithLabelValues("imap", "imap").Dec()
	m.Sessions.WithLabelValues("imap", "new", backend.BridgeSplice).Inc()
	m.SessionsActive.WithLabelValues("imap", "new", backend.BridgeSplice).Inc()
	m.AddBridgeBytes(backend.BridgeSplice, 120, 4096)
	m.SetBreaker("old", "imap", true)
	m.ConnsRefused.WithLabelValues("imap", "imap", "limit").Inc()
	h.b.mu.Lock()
	h.b.stats = backend.Stats{Accepted: 1, Logins: 1, Bridged: 1, ActiveSessions: 1, CacheMisses: 1}
	h.b.mu.Unlock()

	after := scrape(t, h.s)
	want := map[string]float64{
		`switchyard_connections_accepted_total{listener="imap",protocol="imap"}`:               1,
		`switchyard_connections_active{listener="imap",protocol="imap"}`:                       0,
		`switchyard_connections_refused_total{listener="imap",protocol="imap",reason="limit"}`: 1,
		`switchyard_route_lookups_total{cache="miss",source="store"}`:                          1,
		`switchyard_backend_dial_seconds_count{destination="new",outcome="ok"}`:                1,
		`switchyard_backend_auth_seconds_count{destination="new",protocol="imap"}`:             1,
		`switchyard_auth_total{outcome="success",protocol="imap"}`:                             1,
		`switchyard_sessions_total{bridge="splice",destination="new",protocol="imap"}`:         1,
		`switchyard_sessions_active{bridge="splice",destination="new",protocol="imap"}`:        1,
		`switchyard_bridge_bytes_total{bridge="splice",direction="to_backend"}`:                120,
		`switchyard_bridge_bytes_total{bridge="splice",direction="to_client"}`:                 4096,
		`switchyard_breaker_open{destination="old",protocol="imap"}`:                           1,
		"switchyard_stats_accepted_total":                                                      1,
		"switchyard_stats_logins_total":                                                        1,
		"switchyard_stats_active_sessions":                                                     1,
		"switchyard_stats_cache_misses_total":                                                  1,
		"switchyard_ready":                                                                     1,
	}
	for k, v := range want {
		got, ok := after[k]
		if !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if got := after[`switchyard_backend_dial_seconds_sum{destination="new",outcome="ok"}`]; got < 0.0029 || got > 0.0031 {
		t.Errorf("dial seconds sum %v, want 0.003", got)
	}
	// The admin API counts its own requests: the first scrape is in.
	if got := after[`switchyard_admin_requests_total{code="200"}`]; got < 1 {
		t.Errorf("admin requests counter %v", got)
	}
	h.ok("POST", "/drain")
	if got := scrape(t, h.s)["switchyard_ready"]; got != 0 {
		t.Errorf("switchyard_ready after drain = %v", got)
	}
}

func TestMetricsAuth(t *testing.T) {
	h := newHarness(t, nil)
	if w := h.do("GET", "/metrics", reqOpt{}); w.Code != 401 {
		t.Fatalf("/metrics without token: %d", w.Code)
	}
	h = newHarness(t, func(o *Options) { o.MetricsWithoutAuth = true })
	w := h.do("GET", "/metrics", reqOpt{})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "switchyard_ready 1") {
		t.Fatalf("/metrics with MetricsWithoutAuth: %d", w.Code)
	}
	// Other endpoints still need it.
	if w := h.do("GET", "/stats", reqOpt{}); w.Code != 401 {
		t.Fatalf("/stats with MetricsWithoutAuth: %d", w.Code)
	}
}

func TestMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{BearerToken: testToken, Registry: reg, Metrics: m}, newFake())
	if err != nil {
		t.Fatal(err)
	}
	if s.Metrics() != m || s.Registry() != reg {
		t.Fatal("New did not keep the given registry and metrics")
	}
	m.Auth.WithLabelValues("pop3", metrics.AuthFailure).Add(2)
	if got := scrape(t, s)[`switchyard_auth_total{outcome="failure",protocol="pop3"}`]; got != 2 {
		t.Fatalf("engine counter through the admin registry: %v", got)
	}
	if _, err := metrics.NewMetrics(reg); err == nil {
		t.Fatal("registering the metrics twice on one registry must fail")
	}
}

// TestMetricsServer: the metrics listener serves /metrics and nothing
// else, with or without its own token (wrong tokens refused; the admin
// API's token means nothing there).
func TestMetricsServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterStats(reg, newFake()); err != nil {
		t.Fatal(err)
	}
	m.Auth.WithLabelValues("imap", metrics.AuthSuccess).Inc()
	get := func(s *Server, method, path, auth string) (int, string) {
		r := httptest.NewRequest(method, path, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	open, err := NewMetricsServer(MetricsOptions{Registry: reg, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(open, "GET", "/metrics", ""); code != 200 || !strings.Contains(body, `switchyard_auth_total{outcome="success",protocol="imap"} 1`) ||
		!strings.Contains(body, "switchyard_stats_accepted_total") {
		t.Fatalf("open /metrics: %d %.300s", code, body)
	}
	for _, p := range []string{"/stats", "/api/v1/stats", "/healthz", "/debug/pprof/"} {
		if code, _ := get(open, "GET", p, "Bearer "+testToken); code != 404 {
			t.Errorf("%s on the metrics listener: %d", p, code)
		}
	}
	if code, _ := get(open, "POST", "/metrics", ""); code != 405 {
		t.Errorf("POST /metrics: %d", code)
	}
	tok := strings.Repeat("m", 20)
	closed, err := NewMetricsServer(MetricsOptions{Registry: reg, Metrics: m, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range []string{"", "Bearer " + testToken, "Bearer " + strings.Repeat("-", limits.AdminMinTokenLen)} {
		if code, _ := get(closed, "GET", "/metrics", auth); code != 401 {
			t.Errorf("metrics with %q: %d", auth, code)
		}
	}
	if code, _ := get(closed, "GET", "/metrics", "Bearer "+tok); code != 200 {
		t.Errorf("metrics with its token: %d", code)
	}
	if _, err := NewMetricsServer(MetricsOptions{Registry: reg, Metrics: m, Token: "short"}); err == nil {
		t.Error("a short metrics token accepted")
	}
}
