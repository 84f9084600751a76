package relay

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/http/codec"
)

// BackendConnected sends the request head, with the body octets held
// while dialling, on the new leg. HTTP legs have no STARTTLS: a leg that
// asks for it is misconfigured, and the request gets a 502.
func (r *Relay) BackendConnected(leg protocols.BackendLeg, o *protocols.RelayOut) protocols.RelayEvent {
	if r.leg.phase != lgDialing {
		return protocols.RelayNone
	}
	if leg.StartTLS {
		r.leg = relayLeg{}
		if ev := r.failed(o, 502, "backend leg cannot use STARTTLS"); ev != protocols.RelayNone {
			return ev
		}
		return protocols.RelayDisconnect
	}
	r.client = leg.Client.Client
	r.tls = r.tls || leg.Client.TLS
	r.leg.reused = leg.Reused
	r.sendHead(o)
	return protocols.RelayNone
}

// BackendTLSStarted is never due: HTTP legs do not use STARTTLS.
func (r *Relay) BackendTLSStarted(o *protocols.RelayOut) protocols.RelayEvent {
	return protocols.RelayNone
}

// FeedBackend relays the response of the current exchange: 1xx heads,
// the final head (rewritten by AppendClientResponse), then the body as it
// comes, octets passed on at once (event streams flow event by event). A
// 101 to a WebSocket upgrade hands both connections to the engine's
// bridge, with whatever the backend sent after the head left unconsumed.
func (r *Relay) FeedBackend(in []byte, o *protocols.RelayOut) (int, protocols.RelayEvent) {
	if len(in) == 0 {
		return 0, protocols.RelayNone
	}
	if r.phase == cpClosed || r.phase == cpTunnel {
		return 0, protocols.RelayNone
	}
	if r.leg.phase != lgBusy || r.ex.resp == rpNone {
		// Nothing was asked: a response now would be taken for the next
		// request's. The leg is done for.
		r.leg = relayLeg{}
		return len(in), protocols.RelayDisconnect
	}
	r.ex.respBytes = true
	if r.ex.resp == rpHead {
		return r.readResponseHead(in, o)
	}
	return r.readResponseBody(in, o)
}

func (r *Relay) readResponseHead(in []byte, o *protocols.RelayOut) (int, protocols.RelayEvent) {
	ex := &r.ex
	h, n, err := r.rparser.Parse(in)
	if err != nil {
		return 0, r.badResponse(o, err.(*codec.Error))
	}
	if h == nil {
		return 0, protocols.RelayNone
	}
	out, plan, err := AppendClientResponse(o.Client, h, ClientResponseOptions{
		Request: ex.req,
		Close:   ex.closeAfter || r.draining || !ex.bodyDone,
	})
	if err != nil {
		return 0, r.badResponse(o, err.(*codec.Error))
	}
	o.Client = out
	switch {
	case plan.Interim:
		ex.interim = true
		return n, protocols.RelayNone
	case plan.Tunnel:
		r.phase = cpTunnel
		return n, protocols.RelayTunnel
	}
	ex.respStarted = true
	ex.plan = plan
	ex.legKeep = !h.ConnClose && (h.Version == codec.HTTP11 || h.ConnKeepAlive) && plan.Body != codec.BodyUntilClose
	if plan.Body == codec.BodyNone || plan.Body == codec.BodyLength && plan.Length == 0 {
		return n, r.exchangeDone()
	}
	if plan.Dechunk {
		ex.rchunk = codec.NewChunkedBody(r.cfg.Limits)
	} else {
		ex.rbody = codec.NewBody(plan.Body, plan.Length, r.cfg.Limits)
	}
	ex.resp = rpBody
	return n, protocols.RelayNone
}

func (r *Relay) readResponseBody(in []byte, o *protocols.RelayOut) (int, protocols.RelayEvent) {
	ex := &r.ex
	var n int
	var done bool
	var err error
	if ex.plan.Dechunk {
		n, o.Client, done, err = ex.rchunk.Decode(in, o.Client)
	} else {
		n, done, err = ex.rbody.Feed(in)
		o.Client = append(o.Client, in[:n]...)
	}
	if err != nil {
		// A valid prefix went out; the client must not take what it got
		// for the whole body.
		r.phase = cpClosed
		return n, protocols.RelayClose
	}
	if done {
		return n, r.exchangeDone()
	}
	return n, protocols.RelayNone
}

// exchangeDone ends an exchange whose response is complete: the client
// connection ends if the response said so (or the request was not read
// whole, or the proxy drains); the leg is kept for the next request
// unless the backend ends it.
func (r *Relay) exchangeDone() protocols.RelayEvent {
	ex := &r.ex
	if ex.plan.Close || !ex.bodyDone || r.draining {
		// The client goes; the leg may stay for others if the backend
		// keeps it and the whole request went out.
		r.spare = ex.legKeep && ex.bodyDone
		r.phase = cpClosed
		return protocols.RelayClose
	}
	keep := ex.legKeep
	r.nextRequest()
	if !keep {
		r.leg = relayLeg{}
		return protocols.RelayDisconnect
	}
	r.leg.phase = lgIdle
	r.leg.reused = true
	return protocols.RelayNone
}

// badResponse answers a response that cannot be relayed with 502; the
// leg and the client connection end.
func (r *Relay) badResponse(o *protocols.RelayOut, e *codec.Error) protocols.RelayEvent {
	if !r.ex.respStarted {
		// HEAD-aware: a 502 to a HEAD request has no body.
		o.Client = codec.AppendLocal(o.Client, e.Status, r.ex.req, true, "", e.Reason)
	}
	r.phase = cpClosed
	return protocols.RelayClose
}

// BackendDown: the leg is gone (dial failure, closed, or the reply
// timeout). Before any response head the client gets 502, or 504 when
// the request had gone out whole and its answer was awaited; an
// idempotent request without a body that met a reused leg closing under
// it is sent once more on a new leg. After the head the client connection
// ends: a body until close is complete, any other is cut short.
func (r *Relay) BackendDown(o *protocols.RelayOut) protocols.RelayEvent {
	switch r.leg.phase {
	case lgNone:
		return protocols.RelayNone
	case lgIdle:
		r.leg = relayLeg{}
		return protocols.RelayNone
	}
	prev := r.leg
	awaited := r.AwaitingBackend()
	r.leg = relayLeg{}
	ex := &r.ex
	switch {
	case r.phase == cpClosed || r.phase == cpTunnel:
		return protocols.RelayNone
	case ex.respStarted:
		r.phase = cpClosed
		return protocols.RelayClose
	case prev.phase == lgBusy && prev.reused && !ex.retried && !ex.respBytes && !ex.interim &&
		ex.body.Kind() == codec.BodyNone && idempotent(ex.req.Method):
		// Most likely the backend closed the idle leg as the request
		// went out (RFC 9112 9.3.1): nothing was processed.
		ex.retried = true
		ex.headSent = false
		ex.resp = rpNone
		r.leg = relayLeg{phase: lgDialing, dest: prev.dest}
		return protocols.RelayConnect
	case prev.phase == lgBusy && awaited:
		return r.failed(o, 504, "no response from the backend")
	}
	return r.failed(o, 502, "backend unavailable")
}

// failed answers the current request with an error once its leg is gone.
func (r *Relay) failed(o *protocols.RelayOut, status int, reason string) protocols.RelayEvent {
	r.ex.hold = nil
	return r.answer(o, status, "", reason)
}

// idempotent methods (RFC 9110 9.2.2, and WebDAV's PROPFIND and REPORT,
// which are safe) may be sent again when a reused leg fails before any
// response.
func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "PROPFIND", "REPORT":
		return true
	}
	return false
}
