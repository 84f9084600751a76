// Package relay is the HTTP/1.1 relay machine: Relay, the protocols.Relay
// the engine drives for HTTP listeners, routing each request to its
// account's backend with package rules, reading and framing messages with
// package codec, and writing the heads that cross the proxy
// (AppendForward, AppendClientResponse). It never touches a socket, a
// goroutine or a clock. See README.md.
package relay

import (
	"net/netip"

	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/http/codec"
	"github.com/switchyard-mail/switchyard/protocols/http/rules"
)

// RelayConfig configures a Relay, the machine for HTTP listeners. The
// driver fills it from [http], [[http.route]], the listener and the
// destinations; zero values take the defaults documented on each field.
type RelayConfig struct {
	// Routes are the compiled [[http.route]] (rules.CompileRoutes), first match
	// wins. A request no route matches is answered 404: a catch-all
	// "/**" route is how everything is routed.
	Routes []rules.Route
	// DefaultDestination is where Fallback "default" goes
	// (routing.default_destination). Empty: such requests get 502.
	DefaultDestination string
	// Forwarded lists the destinations that get Forwarded,
	// X-Forwarded-For and X-Forwarded-Proto (destination forwarded = true).
	Forwarded map[string]bool
	// TrustForwarded keeps the client's own forwarding fields (listener
	// forwarded = "trust"); otherwise they are dropped.
	TrustForwarded bool
	// TLS: the client leg is TLS (proto=https). BackendLeg.Client.TLS
	// counts too.
	TLS bool
	// Limits bound heads and chunked framing, for requests and responses
	// alike (http.max_head_size is Limits.MaxHead).
	Limits codec.Limits
	// BodyExtractCap bounds the request body read to extract an
	// identifier (http.body_extract_cap, default 64 KiB).
	BodyExtractCap int
	// MaxKeepaliveRequests bounds the requests on one client connection
	// (default 1000): the last one is answered with Connection: close.
	MaxKeepaliveRequests int
	// IdentifierClaim is the JWT claim tried first for Bearer tokens
	// (oauth.jwt_username_claim, default "email").
	IdentifierClaim string
	// VerifyBearer, when set, checks the bearer token of every request
	// before it goes anywhere, wherever RFC 6750 lets it be: the
	// Authorization field, the access_token query parameter, and the
	// access_token of a form body, which is read ahead for that (a
	// chunked one is refused with 411, one over BodyExtractCap with 413).
	// An error answers 401 invalid_token; two different tokens in one
	// request, 400 invalid_request (rules.BearerCheck).
	VerifyBearer func(token string) error
}

// Defaults of RelayConfig.
const (
	DefaultMaxKeepaliveRequests = limits.MaxKeepaliveRequests
)

const (
	// holdCap bounds the request body octets the machine takes from the
	// client while the leg for the request is being dialled, so that a
	// body that came with its head goes out with it once the leg is up.
	holdCap = limits.HTTPBodyHold
	// maxDiscard bounds the rest of a Content-Length body the machine
	// reads and drops after answering a request itself; a longer one (or a
	// chunked one) closes the connection instead.
	maxDiscard = limits.HTTPMaxDiscard
)

func (c *RelayConfig) setDefaults() {
	if c.BodyExtractCap <= 0 {
		c.BodyExtractCap = rules.DefaultBodyExtractCap
	}
	if c.MaxKeepaliveRequests <= 0 {
		c.MaxKeepaliveRequests = DefaultMaxKeepaliveRequests
	}
	if c.IdentifierClaim == "" {
		c.IdentifierClaim = rules.DefaultIdentifierClaim
	}
	c.Limits = c.Limits.WithDefaults()
}

// clientPhase is where the client's side of the connection stands.
type clientPhase uint8

const (
	cpHead    clientPhase = iota // waiting for a request head
	cpRoute                      // RelayRoute returned: Routed owed
	cpExtract                    // reading the body ahead: identifier, access_token
	cpBody                       // the request has a destination; its body is being read
	cpWait                       // the request is read; its response is owed
	cpDiscard                    // dropping the body of a request answered locally
	cpTunnel                     // RelayTunnel returned: the engine bridges
	cpClosed
)

// legPhase is where the current backend leg stands.
type legPhase uint8

const (
	lgNone    legPhase = iota
	lgDialing          // RelayConnect returned
	lgIdle             // connected, between exchanges
	lgBusy             // carrying the current exchange
)

// respPhase is where the response of the current exchange stands.
type respPhase uint8

const (
	rpNone respPhase = iota // no request on the leg
	rpHead                  // waiting for the final head (1xx relayed)
	rpBody                  // relaying the body
)

type relayLeg struct {
	phase  legPhase
	dest   string
	reused bool // the leg carried an exchange before this one
}

// LegReusable: the leg the engine is giving up is idle and keep-alive
// (protocols.RelayLegKeeper), so another client may use it.
func (r *Relay) LegReusable() bool { return r.spare || r.leg.phase == lgIdle }

// exchange is one request and its response.
type exchange struct {
	req        *codec.RequestHead
	route      *rules.Route
	ident      string // for RelayRoute
	dest       string
	closeAfter bool // the client connection ends after this response

	body     codec.Body // request body framing
	bodyDone bool       // every body octet has been read from the client
	sentBody bool       // body octets went to a leg
	hold     []byte     // body octets read but not yet forwarded
	sent100  bool       // the proxy sent 100 Continue itself (body extraction)

	bearer  rules.BearerCheck // the bearer tokens found, with VerifyBearer
	inspect bool              // a form body, read ahead to verify its access_token

	headSent    bool // the request head went to the leg
	resp        respPhase
	respBytes   bool // the leg sent something for this request
	interim     bool // a 1xx came
	respStarted bool // the final head went to the client
	plan        ResponsePlan
	rbody       codec.Body
	rchunk      codec.ChunkedBody // Dechunk
	legKeep     bool              // the leg may carry another exchange
	retried     bool
}

// Relay is the client-facing machine for HTTP/1.1 listeners: it reads
// each request, finds its destination (a pinned route, or the account it
// names through the router), forwards it on a backend leg to that
// destination and relays the response, one exchange at a time. A leg is
// kept for the next request to the same destination; a request for
// another one gets a new leg. It implements protocols.Relay.
type Relay struct {
	cfg      RelayConfig
	phase    clientPhase
	spare    bool // the leg just given up was idle and keep-alive
	parser   codec.RequestParser
	rparser  codec.ResponseParser
	partial  bool // octets of a request head have come
	requests int
	draining bool
	client   netip.AddrPort
	tls      bool

	leg relayLeg
	ex  exchange
}

var _ protocols.Relay = (*Relay)(nil)

// NewRelay returns a machine for one client connection. Routes are
// shared, not copied: compile them once (rules.CompileRoutes). A route built by
// hand, without a compiled glob, is compiled here, for this machine only.
func NewRelay(cfg RelayConfig) *Relay {
	cfg.setDefaults()
	cfg.Routes = rules.PrepareRoutes(cfg.Routes)
	r := &Relay{cfg: cfg, tls: cfg.TLS}
	r.parser.Limits = cfg.Limits
	r.rparser.Limits = cfg.Limits
	return r
}

// Greeting: the client speaks first in HTTP.
func (r *Relay) Greeting(out []byte) []byte { return out }

// TLSStarted: HTTP has no STARTTLS; it only records TLS.
func (r *Relay) TLSStarted(out []byte) []byte {
	r.tls = true
	return out
}

// Recipient is the account to route after RelayRoute.
func (r *Relay) Recipient() string { return r.ex.ident }

// Destination is the destination to connect to after RelayConnect.
func (r *Relay) Destination() string { return r.leg.dest }

// AwaitingBackend is true while a leg is dialled and while the response
// head is owed for a request that has been sent whole (or whose client
// waits for 100 Continue). While a body streams either way, the client's
// timeout applies, reset by progress on either side.
func (r *Relay) AwaitingBackend() bool {
	switch {
	case r.leg.phase == lgDialing:
		return true
	case r.leg.phase != lgBusy || r.ex.resp != rpHead || !r.ex.headSent:
		return false
	}
	return r.ex.bodyDone || r.ex.req.Expect100 && !r.ex.sentBody && !r.ex.interim
}

// Timeout appends what an idle client gets before it is closed: a 408
// when part of a request was received and no response began, else
// nothing.
func (r *Relay) Timeout(out []byte) []byte {
	owed := false
	switch r.phase {
	case cpHead:
		owed = r.partial
	case cpExtract, cpBody:
		owed = !r.ex.respStarted
	}
	if owed {
		out = codec.AppendLocal(out, 408, r.ex.req, true, "", "request not received in time")
	}
	r.phase = cpClosed
	return out
}

// TooBusy appends the 503 for a connection refused by a limit.
func (r *Relay) TooBusy(out []byte) []byte {
	r.phase = cpClosed
	return codec.AppendLocal(out, 503, nil, true, "Retry-After: 5\r\n", "too many connections")
}

// ShuttingDown closes at once between requests. With a request in flight
// it returns false: the response goes out with Connection: close (if its
// head has not already) and the machine ends the session after it.
func (r *Relay) ShuttingDown(o *protocols.RelayOut) bool {
	switch r.phase {
	case cpHead, cpDiscard, cpClosed, cpTunnel:
		r.phase = cpClosed
		return true
	}
	r.draining = true
	return false
}
