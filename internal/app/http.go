package app

import (
	"context"
	"net"
	"strconv"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine"
	"github.com/switchyard-mail/switchyard/internal/h2proxy"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	httpx "github.com/switchyard-mail/switchyard/protocols/http"
)

func init() {
	registerDriver(config.HTTP, func(c *config.Config) engine.Driver { return newHTTPDriver(c) })
}

// httpDriver serves http listeners: every request is routed on its own by
// [[http.route]] (httpx.Relay). The routes are compiled once per
// configuration and shared by every connection's machine. It is an
// engine.RelayDriver and H2Driver only: http listeners are always relayed.
type httpDriver struct {
	routes    []httpx.Route
	def       string
	forwarded map[string]bool
	listeners map[string]config.Listener
	http      config.HTTPConfig
	claim     string
	verify    func(token string) error // edge verification ([oauth] verify), or nil
	err       error                    // a route that does not compile (Validate checks them first)
	h2        *h2proxy.Server          // serves connections that negotiated h2 (set by New)
}

// ServeH2 serves a client that negotiated HTTP/2 (engine.H2Driver).
func (d *httpDriver) ServeH2(_ *engine.Listener, conn net.Conn, client forward.Info) {
	if d.h2 == nil {
		_ = conn.Close()
		return
	}
	d.h2.ServeConn(conn, client.Client, true)
}

// newH2Server builds the HTTP/2 side: the same routes, the router, and
// the destinations as the engine has them now (reloads included).
func (a *App) newH2Server(d *httpDriver) *h2proxy.Server {
	return h2proxy.New(h2proxy.Config{
		Routes:             d.routes,
		DefaultDestination: d.def,
		IdentifierClaim:    d.claim,
		BodyExtractCap:     int(d.http.BodyExtractCap),
		MaxHeaderBytes:     int(d.http.MaxHeadSize),
		ResolveTimeout:     a.cfg.Mapping.LookupTimeout.D(),
		VerifyBearer:       d.verify,
		Logger:             a.log.With("component", "h2"),
		Resolve: func(ctx context.Context, id string) (string, error) {
			res, err := a.eng.ResolveStream(ctx, id)
			return res.Destination, err
		},
		FDs: a.fds,
		// Every stream passes the engine's admission gate (holds, the
		// destination, its breaker) and is listed while it runs.
		Admit: func(s h2proxy.Stream) (func(bool), int, string) {
			return a.eng.AdmitStream(engine.Stream{Client: s.Client, Account: s.Account, Destination: s.Destination, Cancel: s.Cancel})
		},
		Target: func(id string) (h2proxy.Target, bool) {
			dest := a.eng.Destination(id)
			if dest == nil {
				return h2proxy.Target{}, false
			}
			dp, ok := dest.Protocols[string(config.HTTP)]
			if !ok {
				return h2proxy.Target{}, false
			}
			scheme := "http"
			if dp.TLS != engine.TLSPlain {
				scheme = "https"
			}
			return h2proxy.Target{
				URL:       scheme + "://" + net.JoinHostPort(dest.Host, strconv.Itoa(dp.Port)),
				TLS:       dest.TLSConfig,
				Forwarded: d.forwarded[id],
			}, true
		},
	})
}

func newHTTPDriver(c *config.Config) *httpDriver {
	d := &httpDriver{def: c.Routing.DefaultDestination, forwarded: map[string]bool{}, listeners: c.Listener, http: c.HTTP, claim: c.OAuth.JWTUsernameClaim}
	for id, dest := range c.Destination {
		d.forwarded[id] = dest.Forwarded
	}
	specs := make([]httpx.RouteSpec, 0, len(c.HTTP.Route)+1)
	if len(c.HTTP.Route) == 0 {
		// No routes: every request by the account in Authorization, the
		// default destination for the rest.
		specs = append(specs, httpx.RouteSpec{Match: "/**", Extract: &httpx.ExtractSpec{From: httpx.FromAuthorization}, Fallback: httpx.FallbackDefault})
	}
	for _, r := range c.HTTP.Route {
		s := httpx.RouteSpec{Match: r.Match, Host: r.Host, Methods: r.Methods, Destination: r.Destination, Fallback: r.Fallback}
		if e := r.Extract; e != nil {
			s.Extract = &httpx.ExtractSpec{From: string(e.From), Regex: e.Regex, Param: e.Param, Header: e.Header}
		}
		specs = append(specs, s)
	}
	d.routes, d.err = httpx.CompileRoutes(specs)
	return d
}

// Err reports a route that does not compile.
func (d *httpDriver) Err() error { return d.err }

func (d *httpDriver) NewRelay(l *engine.Listener, tlsActive bool) protocols.Relay {
	cl := d.listeners[l.ID]
	return httpx.NewRelay(httpx.RelayConfig{
		Routes:               d.routes,
		DefaultDestination:   d.def,
		Forwarded:            d.forwarded,
		TrustForwarded:       cl.Forwarded == config.ForwardedTrust,
		TLS:                  tlsActive,
		Limits:               httpx.Limits{MaxHead: int(d.http.MaxHeadSize)},
		BodyExtractCap:       int(d.http.BodyExtractCap),
		MaxKeepaliveRequests: d.http.MaxKeepaliveRequests,
		IdentifierClaim:      d.claim,
		VerifyBearer:         d.verify,
	})
}
