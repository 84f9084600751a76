package engine

import (
	"context"
	"net/netip"
	"time"

	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/router"
)

// HTTP/2 streams run on the HTTP/2 server's goroutines, outside the
// reactor, but go through the same gate as every login and relayed
// request: the account's hold, resolution with its metrics, the
// destination serving http, its breaker; each stream is listed in the
// registry while it runs and a kick resets it.

// Stream is an HTTP/2 stream asking to go to a backend.
type Stream struct {
	Listener    string
	Client      netip.AddrPort
	Account     string // the routing identifier ("" for a route with a fixed destination)
	Destination string // where it goes
	// Cancel ends the stream (an admin kick); safe from any goroutine.
	Cancel func()
}

// ResolveStream resolves an HTTP/2 stream's account through the router
// (it may block: it runs on the stream's goroutine), with the same metrics
// as a login.
func (e *Engine) ResolveStream(ctx context.Context, id string) (router.Result, error) {
	res, err := e.opt.Router.Resolve(ctx, e.opt.Router.Normalize(id))
	e.opt.Observer.Route(res, err)
	return res, err
}

// AdmitStream applies the gate to a stream whose destination is known. It
// returns done, to call once when the stream ends (backendFailed: the
// backend could not be reached or failed mid-answer, which the breaker
// counts), or the HTTP status and reason to answer instead.
func (e *Engine) AdmitStream(s Stream) (done func(backendFailed bool), status int, reason string) {
	account := ""
	if s.Account != "" {
		account = e.opt.Router.Normalize(s.Account)
		if !e.gate.DelayedUntil(account, time.Now()).IsZero() {
			e.refusal("stream_held")
			return nil, 503, "account delayed"
		}
	}
	proto := "http"
	adm := e.gate.Admit(session.AdmitRequest{Proto: proto, Account: account, Fixed: "stream"}, router.Result{Destination: s.Destination}, nil)
	if !adm.OK {
		e.refusal("stream_" + adm.Outcome)
		return nil, 503, adm.Reason
	}
	id := e.nextID.Add(1)
	started := time.Now()
	cancel := s.Cancel
	if cancel == nil {
		cancel = func() {}
	}
	reg := e.reg.Add(&sessions.Entry{Info: sessions.Info{ID: id, Listener: s.Listener, Protocol: proto, Client: s.Client.String(),
		State: sessions.StateStream, Account: account, Destination: adm.Dest.ID, Started: started}, Kick: cancel})
	dest := adm.Dest
	return func(backendFailed bool) {
		e.reg.Remove(reg)
		if backendFailed {
			e.gate.HealthFailure(dest, proto, s.Client)
		} else {
			e.gate.HealthSuccess(dest, proto)
		}
		e.log.Debug("http/2 stream ended", "stream", id, "account", account, "destination", dest.ID,
			"client", s.Client, "backend_failed", backendFailed, "duration_s", seconds(time.Since(started)))
	}, 0, ""
}
