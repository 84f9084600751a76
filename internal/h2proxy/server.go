// Package h2proxy serves HTTP/2 client connections (TLS with ALPN h2)
// that the engine hands over once decrypted: each stream is routed by the
// rules of [[http.route]] (rules.Decide, the relay's own rules) and
// reverse-proxied to its destination over pooled HTTP/1.1 connections.
// See README.md.
package h2proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/http/codec"
	"github.com/switchyard-mail/switchyard/protocols/http/rules"
	"github.com/switchyard-mail/switchyard/router"
)

// Target is a destination's HTTP endpoint.
type Target struct {
	// URL is the backend's base URL: "http://127.0.0.1:8080" or https.
	URL string
	// TLS configures an https backend leg (nil: defaults).
	TLS *tls.Config
	// Forwarded adds Forwarded, X-Forwarded-For and X-Forwarded-Proto
	// (destination forwarded = true); otherwise the client's own are
	// removed and none is added.
	Forwarded bool
}

// Config configures a Server. Zero values take the defaults documented
// on each field.
type Config struct {
	// Routes are the [[http.route]] (rules.CompileRoutes), first match
	// wins; routes built by hand are compiled by New.
	Routes []rules.Route
	// DefaultDestination is where Fallback "default" goes.
	DefaultDestination string
	// IdentifierClaim is the JWT claim tried first (default "email").
	IdentifierClaim string
	// BodyExtractCap bounds the body read ahead for routes that extract
	// from the body (default rules.DefaultBodyExtractCap).
	BodyExtractCap int
	// Resolve finds the destination of an account (the router);
	// router.ErrNoRoute for an unknown one, any other error is temporary.
	Resolve func(ctx context.Context, identifier string) (dest string, err error)
	// Target returns a destination's HTTP endpoint; false: unknown (502).
	Target func(dest string) (Target, bool)
	// FDs, when set, is the process's descriptor budget: every backend
	// connection asks it first and gives its descriptor back when closed.
	FDs *fdbudget.Budget
	// Admit, when set, is asked before a stream is proxied: the engine's
	// admission gate (the account's hold, the destination serving http,
	// its breaker), which also lists the stream for the admin API. It
	// returns done, called once when the stream ends (backendFailed: the
	// backend could not be reached or failed), or a status and reason to
	// answer instead.
	Admit func(s Stream) (done func(backendFailed bool), status int, reason string)
	// VerifyBearer, when set, checks the bearer token of every stream
	// before routing, wherever RFC 6750 lets it be: Authorization, the
	// access_token query parameter, the access_token of a form body
	// (read ahead, at most BodyExtractCap octets; a longer one gets 413).
	// An error answers 401 with WWW-Authenticate: Bearer
	// error="invalid_token"; two different tokens, 400 invalid_request.
	VerifyBearer func(token string) error
	// Logger (default slog.Default()).
	Logger *slog.Logger

	// IdleTimeout closes a client connection without streams (default
	// 2 minutes).
	IdleTimeout time.Duration
	// ResolveTimeout bounds Resolve (default 5 seconds, as
	// mapping.lookup_timeout).
	ResolveTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a backend's response
	// head once the request is sent (default 2 minutes). Bodies, event
	// streams included, are not bounded.
	ResponseHeaderTimeout time.Duration
	// MaxHeaderBytes bounds a request's header list (default 64 KiB, as
	// http.max_head_size), and a backend's response head too.
	MaxHeaderBytes int
}

// Stream is a request on its way to a backend, for Config.Admit.
type Stream struct {
	Account     string // the routing identifier ("" for a route with a fixed destination)
	Destination string
	Client      netip.AddrPort
	// Cancel ends the stream (an admin kick).
	Cancel func()
}

// Server serves HTTP/2 client connections. It is safe for concurrent use:
// every ServeConn runs on its own goroutine.
type Server struct {
	cfg    Config
	routes []rules.Route
	log    *slog.Logger
	h1     *http.Server // base configuration for the HTTP/2 server

	mu       sync.Mutex
	backends map[string]*backend // by destination
}

// backend is the pooled transport of one destination.
type backend struct {
	tls *tls.Config // the configuration it was built with
	tr  *http.Transport
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	if cfg.IdentifierClaim == "" {
		cfg.IdentifierClaim = rules.DefaultIdentifierClaim
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.BodyExtractCap = limits.Or(cfg.BodyExtractCap, rules.DefaultBodyExtractCap)
	cfg.IdleTimeout = limits.Or(cfg.IdleTimeout, limits.H2IdleTimeout)
	cfg.ResolveTimeout = limits.Or(cfg.ResolveTimeout, limits.LookupTimeout)
	cfg.ResponseHeaderTimeout = limits.Or(cfg.ResponseHeaderTimeout, limits.H2ResponseHeaderTimeout)
	cfg.MaxHeaderBytes = limits.Or(cfg.MaxHeaderBytes, limits.MaxHeadSize)
	s := &Server{
		cfg:      cfg,
		routes:   rules.PrepareRoutes(cfg.Routes),
		log:      cfg.Logger,
		backends: make(map[string]*backend),
	}
	s.h1 = &http.Server{
		MaxHeaderBytes: cfg.MaxHeaderBytes,
		IdleTimeout:    cfg.IdleTimeout,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s
}

// Close closes the idle backend connections; later requests dial anew.
// Streams in flight go on.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.backends {
		b.tr.CloseIdleConnections()
	}
	clear(s.backends)
}

// handler returns the handler of one client connection.
func (s *Server) handler(client netip.AddrPort, tlsOn bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, client, tlsOn)
	})
}

// serve routes and proxies one stream.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, client netip.AddrPort, tlsOn bool) {
	var bearer rules.BearerCheck
	inspect := false
	if v := s.cfg.VerifyBearer; v != nil {
		// Edge verification, as in the relay: a bearer token that does
		// not verify never reaches a backend (RFC 6750 section 3.1),
		// wherever the stream carries it: Authorization, the
		// access_token query parameter, a form body (read ahead below).
		for _, a := range r.Header.Values("Authorization") {
			bearer.Authorization(a)
		}
		bearer.Form(r.URL.RawQuery)
		if d := bearer.Check(v); d != nil {
			s.answer(w, *d)
			return
		}
		inspect = r.ContentLength != 0 && isForm(r.Header)
	}
	var body []byte
	if inspect || rules.Match(s.routes, r).WantsBody() {
		var err error
		if body, err = s.readAhead(r); err != nil {
			return // the client reset the stream, or the connection ended
		}
		if inspect {
			if body == nil {
				// Too long to check: refused rather than forwarded with
				// an access_token nobody verified.
				s.answer(w, rules.Decision{Status: 413, Reason: "form body larger than http.body_extract_cap (its access_token is verified)"})
				return
			}
			bearer.Form(string(body))
			if d := bearer.Check(s.cfg.VerifyBearer); d != nil {
				s.answer(w, *d)
				return
			}
		}
	}
	d := rules.Decide(s.routes, s.cfg.DefaultDestination, s.cfg.IdentifierClaim, r, body)
	if d.Identifier != "" {
		d = s.resolve(r.Context(), d)
	}
	if d.Status != 0 {
		s.answer(w, d)
		return
	}
	failed := false
	if s.cfg.Admit != nil {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		r = r.WithContext(ctx)
		done, status, reason := s.cfg.Admit(Stream{Account: d.Identifier, Destination: d.Destination, Client: client, Cancel: cancel})
		if done == nil {
			d := rules.Decision{Status: status, Reason: reason}
			s.answer(w, d)
			return
		}
		defer func() { done(failed) }()
	}
	t, ok := s.cfg.Target(d.Destination)
	if !ok {
		s.log.Warn("http/2: destination has no http endpoint", "destination", d.Destination)
		s.answer(w, rules.Decision{Status: 502, Reason: "destination unavailable"})
		return
	}
	failed = !s.proxy(w, r, d.Destination, t, client, tlsOn)
}

// isForm: a Content-Type field names a form body (RFC 6750 section 2.2).
func isForm(h http.Header) bool {
	for _, ct := range h.Values("Content-Type") {
		if rules.IsFormContent(ct) {
			return true
		}
	}
	return false
}

// readAhead reads the body of a request whose route extracts from it,
// or whose form body is checked for an access_token:
// the whole body when it fits in BodyExtractCap octets (non-nil, and the
// request's body is replaced by a reader of it), nil otherwise (the body
// is given back whole: what was read, then the rest).
func (s *Server) readAhead(r *http.Request) ([]byte, error) {
	limit := int64(s.cfg.BodyExtractCap)
	if r.ContentLength > limit {
		return nil, nil
	}
	buf := make([]byte, 0, min(max(r.ContentLength, 512), limit+1))
	buf, err := readUpTo(r.Body, buf, limit+1)
	if err != nil {
		return nil, err
	}
	if int64(len(buf)) > limit {
		rest := r.Body
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), rest), rest}
		return nil, nil
	}
	r.ContentLength = int64(len(buf))
	r.Body = http.NoBody
	if len(buf) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(buf))
	}
	return buf, nil
}

// readUpTo appends from rd to buf until EOF or n octets in all.
func readUpTo(rd io.Reader, buf []byte, n int64) ([]byte, error) {
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := min(int64(cap(buf)), n)
		k, err := rd.Read(buf[len(buf):room])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// resolve asks the router for the destination of d.Identifier.
func (s *Server) resolve(ctx context.Context, d rules.Decision) rules.Decision {
	if s.cfg.Resolve == nil {
		return rules.Decision{Status: 503, Reason: "destination unavailable"}
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.ResolveTimeout)
	defer cancel()
	dest, err := s.cfg.Resolve(rctx, d.Identifier)
	switch {
	case errors.Is(err, router.ErrNoRoute):
		u := d.Route.Unrouted(s.cfg.DefaultDestination)
		u.Identifier = d.Identifier // still the account's stream (holds)
		return u
	case err != nil || dest == "":
		if ctx.Err() == nil { // not a client that went away
			s.log.Warn("http/2: routing failed", "identifier", d.Identifier, "err", err)
		}
		return rules.Decision{Status: 503, Reason: "destination unavailable"}
	}
	return rules.Decision{Destination: dest, Route: d.Route, Identifier: d.Identifier}
}

// answer responds to a stream locally, as the relay does.
func (s *Server) answer(w http.ResponseWriter, d rules.Decision) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if d.Challenge != "" {
		h.Set("WWW-Authenticate", d.Challenge)
	}
	if d.Status == 503 {
		h.Set("Retry-After", "5")
	}
	body := strconv.Itoa(d.Status) + " " + codec.StatusText(d.Status) + ": " + d.Reason + "\n"
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(d.Status)
	_, _ = io.WriteString(w, body)
}

// proxy forwards the stream to the destination's endpoint. It reports
// false when the backend could not be reached or failed.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, dest string, t Target, client netip.AddrPort, tlsOn bool) bool {
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		s.log.Warn("http/2: bad destination url", "destination", dest, "url", t.URL)
		s.answer(w, rules.Decision{Status: 502, Reason: "destination unavailable"})
		return false
	}
	ok := true
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The forwarding fields the client sent are already gone
			// (Rewrite mode); the proxy writes its own only when the
			// destination wants them.
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			if t.Forwarded {
				setForwarded(pr.Out.Header, client, tlsOn, pr.In.Host)
			}
		},
		Transport:     s.transport(dest, t.TLS),
		FlushInterval: -1, // event streams go out event by event
		ErrorLog:      s.h1.ErrorLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil {
				ok = false // not a client that went away, nor a kick
				s.log.Warn("http/2: backend failed", "destination", dest, "err", err)
			}
			s.answer(w, rules.Decision{Status: 502, Reason: "destination unavailable"})
		},
	}
	rp.ServeHTTP(w, r)
	return ok
}

// setForwarded writes Forwarded, X-Forwarded-For and X-Forwarded-Proto
// about the client the engine accepted (not the hand-over connection).
func setForwarded(h http.Header, client netip.AddrPort, tlsOn bool, host string) {
	proto := "http"
	if tlsOn {
		proto = "https"
	}
	h.Set("Forwarded", codec.ForwardedElement(client, proto, host))
	xff := "unknown"
	if a := client.Addr(); a.IsValid() {
		xff = a.Unmap().WithZone("").String()
	}
	h.Set("X-Forwarded-For", xff)
	h.Set("X-Forwarded-Proto", proto)
}

// dial opens a backend connection, counted in the descriptor budget
// (Config.FDs) from the dial until it is closed.
func (s *Server) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: limits.H2BackendDialTimeout, KeepAlive: 30 * time.Second}
	if s.cfg.FDs == nil {
		return d.DialContext(ctx, network, addr)
	}
	return s.cfg.FDs.Dialer(fdbudget.HTTP2, d)(ctx, network, addr)
}

// transport returns the pooled HTTP/1.1 transport of a destination.
func (s *Server) transport(dest string, tc *tls.Config) *http.Transport {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.backends[dest]; b != nil {
		if b.tls == tc {
			return b.tr
		}
		b.tr.CloseIdleConnections() // the destination was reconfigured
	}
	var own *tls.Config
	if tc != nil {
		own = tc.Clone()
		own.NextProtos = []string{"http/1.1"}
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	tr := &http.Transport{
		DialContext:            s.dial,
		TLSClientConfig:        own,
		TLSHandshakeTimeout:    limits.H2BackendTLSTimeout,
		ForceAttemptHTTP2:      false,
		Protocols:              protos,
		MaxIdleConnsPerHost:    limits.H2MaxIdlePerBackend,
		IdleConnTimeout:        limits.H2BackendIdleTimeout,
		ResponseHeaderTimeout:  s.cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout:  limits.H2ExpectContinueTimeout,
		MaxResponseHeaderBytes: int64(s.cfg.MaxHeaderBytes),
		DisableCompression:     true, // bodies pass through as the backend sent them
	}
	s.backends[dest] = &backend{tls: tc, tr: tr}
	return tr
}
