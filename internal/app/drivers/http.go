package drivers

import (
	"net"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/internal/h2proxy"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/http/codec"
	"github.com/switchyard-mail/switchyard/protocols/http/relay"
	"github.com/switchyard-mail/switchyard/protocols/http/rules"
)

func init() {
	Register(config.HTTP, func(c *config.Config) options.Driver { return newHTTPDriver(c) })
}

// HTTP serves http listeners: every request is routed on its own by
// [[http.route]] (relay.Relay). The routes are compiled once per
// configuration and shared by every connection's machine. It is an
// options.RelayDriver and H2Driver only: http listeners are always relayed.
type HTTP struct {
	routes    []rules.Route
	def       string
	forwarded map[string]bool
	listeners map[string]config.Listener
	http      config.HTTPConfig
	claim     string
	verify    func(token string) error // edge verification ([oauth] verify), or nil
	err       error                    // a route that does not compile (Validate checks them first)
	h2        *h2proxy.Server          // serves connections that negotiated h2 (set by New)
}

// ServeH2 serves a client that negotiated HTTP/2 (options.H2Driver).
func (d *HTTP) ServeH2(_ *options.Listener, conn net.Conn, client forward.Info) {
	if d.h2 == nil {
		_ = conn.Close()
		return
	}
	d.h2.ServeConn(conn, client.Client, true)
}

func newHTTPDriver(c *config.Config) *HTTP {
	d := &HTTP{def: c.Routing.DefaultDestination, forwarded: map[string]bool{}, listeners: c.Listener, http: c.HTTP, claim: c.OAuth.JWTUsernameClaim}
	for id, dest := range c.Destination {
		d.forwarded[id] = dest.Forwarded
	}
	specs := make([]rules.RouteSpec, 0, len(c.HTTP.Route)+1)
	if len(c.HTTP.Route) == 0 {
		// No routes: every request by the account in Authorization, the
		// default destination for the rest.
		specs = append(specs, rules.RouteSpec{Match: "/**", Extract: &rules.ExtractSpec{From: rules.FromAuthorization}, Fallback: rules.FallbackDefault})
	}
	for _, r := range c.HTTP.Route {
		s := rules.RouteSpec{Match: r.Match, Host: r.Host, Methods: r.Methods, Destination: r.Destination, Fallback: r.Fallback}
		if e := r.Extract; e != nil {
			s.Extract = &rules.ExtractSpec{From: string(e.From), Regex: e.Regex, Param: e.Param, Header: e.Header}
		}
		specs = append(specs, s)
	}
	d.routes, d.err = rules.CompileRoutes(specs)
	return d
}

// SetVerifyBearer turns on edge verification of bearer tokens ([oauth]
// verify) for the connections built after it.
func (d *HTTP) SetVerifyBearer(f func(token string) error) { d.verify = f }

// H2Config is the routing part of the HTTP/2 side's configuration: the
// same routes, default destination and limits as the HTTP/1.1 machines.
func (d *HTTP) H2Config() h2proxy.Config {
	return h2proxy.Config{
		Routes:             d.routes,
		DefaultDestination: d.def,
		IdentifierClaim:    d.claim,
		BodyExtractCap:     int(d.http.BodyExtractCap),
		MaxHeaderBytes:     int(d.http.MaxHeadSize),
		VerifyBearer:       d.verify,
	}
}

// SetH2 is the server of the connections that negotiate h2.
func (d *HTTP) SetH2(s *h2proxy.Server) { d.h2 = s }

// Forwarded says whether destination id takes Forwarded headers.
func (d *HTTP) Forwarded(id string) bool { return d.forwarded[id] }

// Err reports a route that does not compile.
func (d *HTTP) Err() error { return d.err }

func (d *HTTP) NewRelay(l *options.Listener, tlsActive bool) protocols.Relay {
	cl := d.listeners[l.ID]
	return relay.NewRelay(relay.RelayConfig{
		Routes:               d.routes,
		DefaultDestination:   d.def,
		Forwarded:            d.forwarded,
		TrustForwarded:       cl.Forwarded == config.ForwardedTrust,
		TLS:                  tlsActive,
		Limits:               codec.Limits{MaxHead: int(d.http.MaxHeadSize)},
		BodyExtractCap:       int(d.http.BodyExtractCap),
		MaxKeepaliveRequests: d.http.MaxKeepaliveRequests,
		IdentifierClaim:      d.claim,
		VerifyBearer:         d.verify,
	})
}
