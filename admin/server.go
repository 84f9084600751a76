// Package admin serves switchyard's management API and its Prometheus
// metrics: paths compatible with the reference proxy's management API
// (GET /stats, PUT /mappings?identifier=&destination=, POST
// /connections/kick?identifier=, ...) plus readiness, live connections,
// bulk mapping import and export, drain and the log level.
//
// The package knows nothing of the engine: internal/app implements Backend
// and wires New's Server to the [admin] listener. See README.md.
package admin

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/switchyard-mail/switchyard/admin/apiv1"
	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/admin/httpio"
	"github.com/switchyard-mail/switchyard/admin/metrics"
	"github.com/switchyard-mail/switchyard/admin/openapi"
	"github.com/switchyard-mail/switchyard/limits"
)

// Options configures the admin server. Zero values take the limits named
// Admin* in package limits (docs/LIMITS.md); the token length, the lockout
// threshold and its duration are also [admin]'s defaults.
type Options struct {
	// BearerToken is the token every endpoint except /healthz and /readyz
	// (and /metrics with MetricsWithoutAuth) requires. New refuses one
	// shorter than MinTokenLen.
	BearerToken string
	MinTokenLen int
	// ViewerToken, when set, may read everything (GET and HEAD on every
	// path but the profiler's) and change nothing: anything else is 403.
	// The same rules as BearerToken apply, and it must differ from it.
	ViewerToken string

	// LockoutThreshold bad tokens from one client address (IPv6: one
	// /64) lock it until LockoutDuration after its last bad token: its
	// token checks then run one per LockoutPace, in order of arrival. A
	// bad token gets 429 with Retry-After; the right token still passes,
	// after waiting its turn (see lockout in auth.go).
	LockoutThreshold int
	LockoutDuration  time.Duration
	LockoutPace      time.Duration

	// ReadHeaderTimeout bounds the TLS handshake and then each request
	// head, from the connection's first byte or the previous response.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxConns caps open connections to the admin socket, of which
	// LoopbackReserve are for loopback clients only (the container's
	// health check); MaxConnsPerClient caps those of one client address
	// (IPv6: one /64). A connection beyond a cap is reset as soon as it is
	// accepted. A negative LoopbackReserve reserves none.
	MaxConns          int
	MaxConnsPerClient int
	LoopbackReserve   int
	// MaxImportBytes caps the body of POST /mappings/import.
	MaxImportBytes int64

	// MetricsWithoutAuth serves GET /metrics without the token.
	MetricsWithoutAuth bool

	Logger *slog.Logger
	// Registry is what /metrics serves. Nil: New creates one with the Go
	// and process collectors.
	Registry *prometheus.Registry
	// Metrics are the engine's collectors, already registered on Registry
	// by NewMetrics. Nil: New creates and registers them.
	Metrics *metrics.Metrics
	// TLS, when set, makes Serve speak HTTPS ([admin] tls = "implicit").
	TLS *tls.Config
	// Pprof serves Go's profiler under /debug/pprof/, with the token like
	// every other endpoint (switchyard --pprof).
	Pprof bool

	// Events and History feed /api/v1/events and /api/v1/history. Nil:
	// New makes empty ones (the backend then records nothing there).
	Events  *events.EventLog
	History *events.History
	// MaxStreams caps concurrent /api/v1/events/stream responses
	// (default 16).
	MaxStreams int
}

// DefaultMaxStreams is the default Options.MaxStreams.
const DefaultMaxStreams = 16

// Server is the admin API. Create it with New.
type Server struct {
	opt      Options
	b        backend.Backend
	log      *slog.Logger
	reg      *prometheus.Registry
	metrics  *metrics.Metrics
	token    [sha256.Size]byte
	viewer   *[sha256.Size]byte // nil: no viewer token
	v1       *apiv1.API
	lock     *lockout
	handler  http.Handler
	metricsH http.Handler
	srv      *http.Server
	now      func() time.Time
	started  time.Time
	// sleep waits d (a locked client's turn); false when the server shuts
	// down first. Tests replace it.
	sleep func(d time.Duration) bool
	// local says which clients may take the loopback reserve.
	local func(netip.Addr) bool

	mu     sync.Mutex
	closed bool
	done   chan struct{} // closed by Shutdown
}

// New checks opt and returns a server for b. It fails when the token is
// too short or the options are out of range.
func New(opt Options, b backend.Backend) (*Server, error) {
	return newAdminServer(opt, b, true)
}

func newAdminServer(opt Options, b backend.Backend, stats bool) (*Server, error) {
	if b == nil {
		return nil, errors.New("admin: nil Backend")
	}
	if opt.MinTokenLen == 0 {
		opt.MinTokenLen = limits.AdminMinTokenLen
	}
	if opt.MinTokenLen < 0 {
		return nil, fmt.Errorf("admin: MinTokenLen %d is negative", opt.MinTokenLen)
	}
	if len(opt.BearerToken) < opt.MinTokenLen {
		return nil, fmt.Errorf("admin: bearer token is %d characters long, below the minimum of %d", len(opt.BearerToken), opt.MinTokenLen)
	}
	if strings.TrimSpace(opt.BearerToken) != opt.BearerToken || strings.ContainsAny(opt.BearerToken, " \t\r\n") {
		return nil, errors.New("admin: bearer token contains whitespace")
	}
	if err := httpio.CheckText(opt.BearerToken); err != nil {
		return nil, fmt.Errorf("admin: bearer token %v", err)
	}
	if v := opt.ViewerToken; v != "" {
		switch {
		case len(v) < opt.MinTokenLen:
			return nil, fmt.Errorf("admin: viewer token is %d characters long, below the minimum of %d", len(v), opt.MinTokenLen)
		case strings.ContainsAny(v, " \t\r\n"):
			return nil, errors.New("admin: viewer token contains whitespace")
		case httpio.CheckText(v) != nil:
			return nil, fmt.Errorf("admin: viewer token %v", httpio.CheckText(v))
		case v == opt.BearerToken:
			return nil, errors.New("admin: the viewer token is the admin token")
		}
	}
	setDefault := func(p *time.Duration, def time.Duration, name string) error {
		if *p == 0 {
			*p = def
		}
		if *p < 0 {
			return fmt.Errorf("admin: %s %v is negative", name, *p)
		}
		return nil
	}
	for _, d := range []struct {
		p    *time.Duration
		def  time.Duration
		name string
	}{
		{&opt.LockoutDuration, limits.AdminLockoutDuration, "LockoutDuration"},
		{&opt.LockoutPace, limits.AdminLockoutPace, "LockoutPace"},
		{&opt.ReadHeaderTimeout, limits.AdminReadHeaderTimeout, "ReadHeaderTimeout"},
		{&opt.ReadTimeout, limits.AdminReadTimeout, "ReadTimeout"},
		{&opt.WriteTimeout, limits.AdminWriteTimeout, "WriteTimeout"},
		{&opt.IdleTimeout, limits.AdminIdleTimeout, "IdleTimeout"},
	} {
		if err := setDefault(d.p, d.def, d.name); err != nil {
			return nil, err
		}
	}
	opt.LockoutThreshold = cmp.Or(opt.LockoutThreshold, limits.AdminLockoutThreshold)
	opt.MaxConns = cmp.Or(opt.MaxConns, limits.AdminMaxConns)
	opt.MaxConnsPerClient = cmp.Or(opt.MaxConnsPerClient, limits.AdminMaxConnsPerClient)
	opt.LoopbackReserve = cmp.Or(opt.LoopbackReserve, min(limits.AdminLoopbackReserve, opt.MaxConns/2))
	opt.MaxImportBytes = cmp.Or(opt.MaxImportBytes, limits.AdminMaxImportBytes)
	if opt.MaxStreams <= 0 {
		opt.MaxStreams = DefaultMaxStreams
	}
	if opt.Events == nil {
		opt.Events = events.NewEventLog(0)
	}
	if opt.History == nil {
		opt.History = events.NewHistory()
	}
	if opt.LoopbackReserve < 0 {
		opt.LoopbackReserve = 0 // asked for none
	}
	if opt.LockoutThreshold < 0 || opt.MaxConns < 0 || opt.MaxConnsPerClient < 0 || opt.MaxImportBytes < 0 {
		return nil, errors.New("admin: LockoutThreshold, MaxConns, MaxConnsPerClient and MaxImportBytes must not be negative")
	}
	if opt.LoopbackReserve >= opt.MaxConns {
		return nil, fmt.Errorf("admin: LoopbackReserve %d leaves no connection of MaxConns %d to other clients", opt.LoopbackReserve, opt.MaxConns)
	}
	s := &Server{
		opt:     opt,
		b:       b,
		log:     opt.Logger,
		reg:     opt.Registry,
		metrics: opt.Metrics,
		token:   sha256.Sum256([]byte(opt.BearerToken)),
		lock:    newLockout(opt.LockoutThreshold, opt.LockoutDuration, opt.LockoutPace),
		now:     time.Now,
		started: time.Now(),
		local:   func(a netip.Addr) bool { return a.Unmap().IsLoopback() },
		done:    make(chan struct{}),
	}
	if opt.ViewerToken != "" {
		v := sha256.Sum256([]byte(opt.ViewerToken))
		s.viewer = &v
	}
	s.sleep = func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-s.done:
			return false
		}
	}
	s.opt.BearerToken, s.opt.ViewerToken = "", "" // keep only the hashes
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "admin")
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		for _, c := range []prometheus.Collector{
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		} {
			if err := metrics.RegisterOrReuse(s.reg, c); err != nil {
				return nil, fmt.Errorf("admin: %w", err)
			}
		}
	}
	if s.metrics == nil {
		m, err := metrics.NewMetrics(s.reg)
		if err != nil {
			return nil, fmt.Errorf("admin: metrics: %w", err)
		}
		s.metrics = m
	}
	if stats {
		if err := metrics.RegisterStats(s.reg, b); err != nil {
			return nil, fmt.Errorf("admin: stats collector: %w", err)
		}
	}
	s.metricsH = promhandler(s.reg)
	s.v1 = apiv1.New(b, apiv1.Options{Logger: s.log, Events: opt.Events, History: opt.History, MaxStreams: opt.MaxStreams,
		MaxImportBytes: opt.MaxImportBytes, Done: s.done, Now: func() time.Time { return s.now() }})
	s.handler = s.routes()
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: opt.ReadHeaderTimeout,
		ReadTimeout:       opt.ReadTimeout,
		WriteTimeout:      opt.WriteTimeout,
		IdleTimeout:       opt.IdleTimeout,
		MaxHeaderBytes:    limits.AdminMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.Background() },
	}
	return s, nil
}

// Handler returns the API as an http.Handler (authentication, lockout and
// routing included; no connection cap or timeouts, which Serve adds).
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the collectors (Options.Metrics, or those New created).
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// Patterns lists every "METHOD pattern" /api/v1 serves (tests compare it
// with openapi.json).
func (s *Server) Patterns() []string { return s.v1.Patterns() }

// Registry returns the registry /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Serve accepts connections on ln until Shutdown, capping them (MaxConns,
// MaxConnsPerClient, LoopbackReserve) and speaking TLS when Options.TLS is
// set. It returns nil after Shutdown, or the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		_ = ln.Close()
		return nil
	}
	var l net.Listener = &limitListener{Listener: ln, s: s, perClient: map[netip.Prefix]int{}}
	if s.opt.TLS != nil {
		cfg := s.opt.TLS.Clone()
		if len(cfg.NextProtos) == 0 {
			cfg.NextProtos = []string{"http/1.1"}
		}
		l = tls.NewListener(l, cfg)
	}
	s.log.Info("admin API listening", "addr", ln.Addr().String(), "tls", s.opt.TLS != nil,
		"max_conns", s.opt.MaxConns, "max_conns_per_client", s.opt.MaxConnsPerClient)
	err := s.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, waits for requests in flight until ctx ends,
// then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	return err
}

// limitListener resets a connection beyond a cap as soon as it is
// accepted. A slot is held from accept until the connection closes, which
// net/http bounds with ReadHeaderTimeout (handshake and request head) and
// IdleTimeout: so one client can hold at most MaxConnsPerClient slots, and
// the clients of the rest of the world together cannot take the slots
// reserved for loopback.
type limitListener struct {
	net.Listener
	s *Server

	mu        sync.Mutex
	total     int
	perClient map[netip.Prefix]int
	lastWarn  time.Time
	refused   int // since lastWarn
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var addr netip.Addr
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			addr = ta.AddrPort().Addr()
		} else if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			addr = ap.Addr()
		}
		key := addrKey(addr)
		if reason := l.admit(key, addr); reason != "" {
			l.refuse(c, reason)
			continue
		}
		return &limitConn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

// admit takes a slot for a connection from addr, or says why not.
func (l *limitListener) admit(key netip.Prefix, addr netip.Addr) string {
	o := &l.s.opt
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.perClient[key] >= o.MaxConnsPerClient:
		return "too many from this client"
	case l.total >= o.MaxConns:
		return "too many open"
	case l.total >= o.MaxConns-o.LoopbackReserve && !(addr.IsValid() && l.s.local(addr)):
		return "too many open (the rest is reserved for loopback)"
	}
	l.total++
	l.perClient[key]++
	return ""
}

func (l *limitListener) release(key netip.Prefix) {
	l.mu.Lock()
	l.total--
	if l.perClient[key]--; l.perClient[key] <= 0 {
		delete(l.perClient, key)
	}
	l.mu.Unlock()
}

// refusalLogInterval spaces the log lines about refused admin connections.
const refusalLogInterval = 10 * time.Second

// refuse resets c: no TIME_WAIT, the client learns at once. Refusals are
// counted; the log gets one line per ten seconds at most.
func (l *limitListener) refuse(c net.Conn, reason string) {
	l.s.metrics.AdminConnsRejected.Inc()
	now := time.Now()
	l.mu.Lock()
	l.refused++
	n, warn := l.refused, now.Sub(l.lastWarn) >= refusalLogInterval
	if warn {
		l.lastWarn, l.refused = now, 0
	}
	l.mu.Unlock()
	if warn {
		l.s.log.Warn("admin connection refused", "reason", reason, "client", c.RemoteAddr().String(), "refused_since_last_warning", n,
			"max_conns", l.s.opt.MaxConns, "max_conns_per_client", l.s.opt.MaxConnsPerClient)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// ProblemForbidden is the problem type of a refusal by role (the viewer
// token changing something); admin/httpio lists the others.
const ProblemForbidden = httpio.ProblemForbidden

// OpenAPI returns the OpenAPI document of /api/v1 (admin/openapi).
func OpenAPI() []byte { return openapi.Document() }
