package relay

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/http/codec"
	"github.com/switchyard-mail/switchyard/protocols/http/rules"
)

// FeedClient consumes client octets: a request head, then its body, and
// nothing of the next request until the response is over, so responses
// go out in the order of the requests.
func (r *Relay) FeedClient(in []byte, o *protocols.RelayOut) (int, protocols.RelayEvent) {
	switch r.phase {
	case cpHead:
		return r.readHead(in, o)
	case cpExtract:
		return r.readExtract(in, o)
	case cpBody:
		return r.readBody(in, o)
	case cpDiscard:
		return r.readDiscard(in, o)
	case cpClosed:
		return 0, protocols.RelayClose
	}
	return 0, protocols.RelayNone // cpRoute, cpWait, cpTunnel: the backend goes first
}

func (r *Relay) readHead(in []byte, o *protocols.RelayOut) (int, protocols.RelayEvent) {
	if len(in) == 0 {
		return 0, protocols.RelayNone
	}
	h, n, err := r.parser.Parse(in)
	if err != nil {
		// The stream cannot be trusted past a refused head: nothing of it
		// reaches a backend, and the connection ends.
		o.Client = err.(*codec.Error).AppendResponse(o.Client)
		r.phase = cpClosed
		return 0, protocols.RelayClose
	}
	if h == nil {
		r.partial = true
		return 0, protocols.RelayNone
	}
	r.partial = false
	r.requests++
	r.ex = exchange{req: h}
	r.ex.closeAfter = !h.Persistent() || r.requests >= r.cfg.MaxKeepaliveRequests || r.draining
	kind, length := h.Body()
	r.ex.body = codec.NewBody(kind, length, r.cfg.Limits)
	r.ex.bodyDone = kind == codec.BodyNone || kind == codec.BodyLength && length == 0
	return n, r.request(o)
}

// request decides where the request just read goes.
func (r *Relay) request(o *protocols.RelayOut) protocols.RelayEvent {
	h := r.ex.req
	if h.Method == "CONNECT" {
		return r.answer(o, 501, "", "CONNECT is not supported")
	}
	kind, length := h.Body()
	if v := r.cfg.VerifyBearer; v != nil {
		// Edge verification: a bearer token that does not verify never
		// reaches a backend, whatever the route (RFC 6750 section 3.1),
		// wherever the request carries it (rules.BearerCheck). The header and the
		// query are checked now; a form body once it is read.
		b := &r.ex.bearer
		b.Authorization(h.Authorization)
		b.Form(h.Query)
		if d := b.Check(v); d != nil {
			return r.apply(*d, o)
		}
		r.ex.inspect = kind != codec.BodyNone && length != 0 && isFormRequest(h)
	}
	path := h.Path
	if h.Form == codec.AsteriskForm {
		path = "*"
	}
	rt := rules.MatchPath(r.cfg.Routes, path, h.Host, h.Method)
	r.ex.route = rt
	if rt.WantsBody() || r.ex.inspect {
		if kind != codec.BodyLength || length > int64(r.cfg.BodyExtractCap) {
			switch {
			case r.ex.inspect && kind == codec.BodyChunked:
				// Its access_token could not be checked before the
				// body went out: refused rather than forwarded unchecked.
				return r.answer(o, 411, "", "a form body must have a Content-Length (its access_token is verified)")
			case r.ex.inspect:
				return r.answer(o, 413, "", "form body larger than http.body_extract_cap (its access_token is verified)")
			}
			// Chunked bodies and bodies over the cap are not read
			// ahead: the fallback decides.
			return r.apply(rt.Unidentified(r.cfg.DefaultDestination), o)
		}
		if r.ex.bodyDone {
			return r.bodyRead(o)
		}
		r.ex.hold = make([]byte, 0, length)
		r.phase = cpExtract
		if h.Expect100 {
			// The client waits for a go-ahead before the body the proxy
			// needs; the backend will get the body with the head.
			o.Client = append(o.Client, "HTTP/1.1 100 Continue\r\n\r\n"...)
			r.ex.sent100 = true
		}
		return protocols.RelayNone
	}
	return r.routeHead(o)
}

// routeHead routes by what the request head says.
func (r *Relay) routeHead(o *protocols.RelayOut) protocols.RelayEvent {
	h, rt := r.ex.req, r.ex.route
	id := ""
	if rt != nil && rt.Extract != nil {
		id = rt.Extract.Identifier(h.Authorization, h.Query, h, r.cfg.IdentifierClaim)
	}
	return r.apply(rt.Decide(r.cfg.DefaultDestination, id), o)
}

// bodyRead goes on once the body read ahead is whole: its access_token
// verified (a form body, with VerifyBearer), then the request routed, by
// the body if the route says so.
func (r *Relay) bodyRead(o *protocols.RelayOut) protocols.RelayEvent {
	if r.ex.inspect {
		b := &r.ex.bearer
		b.Form(string(r.ex.hold))
		if d := b.Check(r.cfg.VerifyBearer); d != nil {
			return r.apply(*d, o)
		}
	}
	if r.ex.route.WantsBody() {
		return r.extracted(r.ex.route.Extract.BodyIdentifier(r.ex.hold), o)
	}
	return r.routeHead(o)
}

// extracted routes by the identifier found, or falls back.
func (r *Relay) extracted(id string, o *protocols.RelayOut) protocols.RelayEvent {
	return r.apply(r.ex.route.Decide(r.cfg.DefaultDestination, id), o)
}

// apply carries out a routing decision: an answer, the router's turn
// (RelayRoute), or the destination.
func (r *Relay) apply(d rules.Decision, o *protocols.RelayOut) protocols.RelayEvent {
	switch {
	case d.Status != 0:
		extra := ""
		if d.Challenge != "" {
			extra = "WWW-Authenticate: " + d.Challenge + "\r\n"
		}
		return r.answer(o, d.Status, extra, d.Reason)
	case d.Identifier != "":
		r.ex.ident = d.Identifier
		r.phase = cpRoute
		return protocols.RelayRoute
	}
	return r.bind(d.Destination, o)
}

// Routed takes the router's answer for Recipient(): the destination, the
// route's fallback for an account the router does not know (else 502),
// or 503 when the router cannot answer now.
func (r *Relay) Routed(dest string, outcome protocols.RouteOutcome, o *protocols.RelayOut) protocols.RelayEvent {
	if r.phase != cpRoute {
		return protocols.RelayNone
	}
	switch {
	case outcome == protocols.RouteOK && dest != "":
		return r.bind(dest, o)
	case outcome == protocols.RouteUnknown:
		return r.apply(r.ex.route.Unrouted(r.cfg.DefaultDestination), o)
	}
	return r.answer(o, 503, "Retry-After: 5\r\n", "destination unavailable")
}

// bind sends the request to dest: on the current leg if it goes there and
// is idle, else on a new one.
func (r *Relay) bind(dest string, o *protocols.RelayOut) protocols.RelayEvent {
	r.ex.dest = dest
	r.phase = cpBody
	if r.ex.bodyDone {
		r.phase = cpWait
	}
	if r.leg.phase == lgIdle && r.leg.dest == dest {
		r.leg.reused = true
		r.sendHead(o)
		return protocols.RelayNone
	}
	r.spare = r.leg.phase == lgIdle // given up for another destination
	r.leg = relayLeg{phase: lgDialing, dest: dest}
	return protocols.RelayConnect
}

// sendHead writes the request head, and the body octets held so far, to
// the leg, which now carries the exchange.
func (r *Relay) sendHead(o *protocols.RelayOut) {
	ex := &r.ex
	o.Backend = AppendForward(o.Backend, ex.req, ForwardOptions{
		Client:         r.client,
		TLS:            r.tls,
		TrustForwarded: r.cfg.TrustForwarded,
		NoForwarded:    !r.cfg.Forwarded[ex.dest],
		Close:          ex.closeAfter,
		DropExpect:     ex.bodyDone,
	})
	if len(ex.hold) > 0 {
		o.Backend = append(o.Backend, ex.hold...)
		ex.sentBody = true
	}
	ex.hold = nil
	r.spare = false
	ex.headSent = true
	ex.resp = rpHead
	ex.respBytes, ex.interim = false, false
	r.rparser.Reset()
	r.leg.phase = lgBusy
}

// readExtract reads a Content-Length body (at most BodyExtractCap) into
// the machine's own buffer, to route by what the regex finds in it or to
// verify the access_token of a form body.
func (r *Relay) readExtract(in []byte, o *protocols.RelayOut) (int, protocols.RelayEvent) {
	n, done, _ := r.ex.body.Feed(in) // Content-Length: no error
	r.ex.hold = append(r.ex.hold, in[:n]...)
	if !done {
		return n, protocols.RelayNone
	}
	r.ex.bodyDone = true
	return n, r.bodyRead(o)
}

// readBody passes body octets to the leg as they come; while the leg is
// being dialled it holds up to holdCap of them.
func (r *Relay) readBody(in []byte, o *protocols.RelayOut) (int, protocols.RelayEvent) {
	ex := &r.ex
	if !ex.headSent {
		room := holdCap - len(ex.hold)
		if room <= 0 {
			return 0, protocols.RelayNone
		}
		if len(in) > room {
			in = in[:room]
		}
	}
	n, done, err := ex.body.Feed(in)
	if ex.headSent {
		o.Backend = append(o.Backend, in[:n]...)
		ex.sentBody = ex.sentBody || n > 0
	} else {
		ex.hold = appendBounded(ex.hold, in[:n], holdCap)
	}
	if err != nil {
		// What went out is a valid prefix of the body: closing both legs
		// now cannot move a message boundary.
		if !ex.respStarted {
			o.Client = err.(*codec.Error).AppendResponse(o.Client)
		}
		r.phase = cpClosed
		return n, protocols.RelayClose
	}
	if done {
		ex.bodyDone = true
		r.phase = cpWait
	}
	return n, protocols.RelayNone
}

// readDiscard drops the rest of the body of a request answered locally.
func (r *Relay) readDiscard(in []byte, o *protocols.RelayOut) (int, protocols.RelayEvent) {
	n, done, _ := r.ex.body.Feed(in) // Content-Length only
	if done {
		r.nextRequest()
	}
	return n, protocols.RelayNone
}

// answer responds to the current request locally. The connection goes on
// if the client is done with the request, or after dropping what is left
// of a short Content-Length body; it ends if the client asked to, if
// part of the body went to a backend, or if the rest is chunked, long, or
// awaited behind Expect: 100-continue (the client must not be invited to
// send it).
func (r *Relay) answer(o *protocols.RelayOut, status int, extra, reason string) protocols.RelayEvent {
	ex := &r.ex
	closing := ex.closeAfter || r.draining
	discard := false
	if !ex.bodyDone && !closing {
		if ex.req.Chunked || ex.req.Expect100 && !ex.sent100 || ex.sentBody ||
			ex.body.Remaining() > maxDiscard {
			closing = true
		} else {
			discard = true
		}
	}
	o.Client = codec.AppendLocal(o.Client, status, ex.req, closing, extra, reason)
	switch {
	case closing:
		r.phase = cpClosed
		return protocols.RelayClose
	case discard:
		ex.hold = nil
		r.phase = cpDiscard
		return protocols.RelayNone
	}
	r.nextRequest()
	return protocols.RelayNone
}

// nextRequest forgets the exchange: the next request head is read.
func (r *Relay) nextRequest() {
	r.ex = exchange{}
	r.phase = cpHead
}

// appendBounded appends src to dst, growing dst to at most limit octets of
// capacity (the caller keeps len(dst)+len(src) within limit).
func appendBounded(dst, src []byte, limit int) []byte {
	if need := len(dst) + len(src); need > cap(dst) {
		n := min(max(2*cap(dst), need, 512), max(limit, need))
		grown := make([]byte, len(dst), n)
		copy(grown, dst)
		dst = grown
	}
	return append(dst, src...)
}

// isFormRequest: a Content-Type field of the request names a form body.
func isFormRequest(h *codec.RequestHead) bool {
	for i := range h.Fields {
		if h.Fields[i].Key == "content-type" && rules.IsFormContent(h.Fields[i].Value) {
			return true
		}
	}
	return false
}
