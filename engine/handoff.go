package engine

import (
	"context"
	"errors"
	"log/slog"

	"github.com/switchyard-mail/switchyard/engine/sock"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/splice"
)

// bridge hands a client and its backend socket to the bridge. It runs on
// the loop while the session holds both live connections (at a login's
// verdict, at an HTTP 101), so each descriptor is the socket the session
// owns: there is no later retry that could find a reused descriptor number.
// gnet must hold no unsent output for the client (it drops it at close):
// when it does, even after a flush, the session fails instead.
// clientPrelude is written to the client first (the backend's verdict); the
// client's unconsumed input goes to the backend first. The bridge owns
// back.fd from here on, whatever happens.
func (e *Engine) bridge(c *conn, back backendSide, clientPrelude []byte, account string) {
	fail := func(why string, err error) {
		e.refusal("handoff_" + why)
		e.log.Warn("hand-off to the bridge failed", "session", c.id, "client", c.client, "account", account, "reason", why, "err", err)
		sock.CloseFD(back.fd)
		e.fds.Release(fdbudget.Bridge, 1)
	}
	if c.phase != phOpen || c.closing {
		fail("gone", nil)
		return
	}
	backendPrelude := append([]byte(nil), c.in...)
	cfd, err := c.detach()
	if err != nil {
		if errors.Is(err, errUnsentOutput) {
			fail("unsent_output", err)
		} else {
			fail("client", err)
		}
		c.in = backendPrelude
		c.Close()
		return
	}
	c.in = nil
	client := splice.Leg{FD: cfd, Prelude: clientPrelude}
	if c.tls.Active {
		client.TLS, client.Transport = c.tls.TC, c.tls.TR
	}
	kind := "splice"
	if c.tls.Active || back.tc != nil || !splice.ZeroCopy(e.opt.Bridge) {
		kind = "copy"
	}
	info := splice.Info{
		ID: c.id, Account: account, Protocol: c.ls.Protocol, Listener: c.ls.ID,
		Destination: back.dest, Client: c.client.String(), Bridge: kind,
	}
	e.Stats.Bridged.Add(1)
	e.opt.Observer.SessionStarted(info.Protocol, info.Destination, kind)
	slot := c.slot.HandOff()
	ended := func(info splice.Info, st splice.Stats) {
		e.fds.Release(fdbudget.Bridge, 2)
		slot.Release()
		e.sessionEnded(info, st)
	}
	backLeg := back.leg(backendPrelude)
	start := func() {
		if _, err := e.opt.Bridge.Start(client, backLeg, info, ended); err != nil {
			// The bridge closed both sockets and will not call ended.
			e.fds.Release(fdbudget.Bridge, 2)
			slot.Release()
			e.opt.Observer.SessionEnded(info.Protocol, info.Destination, kind, 0, 0)
			e.log.Error("bridge refused the session", "account", account, "err", err)
		}
	}
	if c.loop.cur == nil {
		start()
		return
	}
	// Inside a gnet callback, the connection it belongs to is closed when
	// the callback returns: until then gnet could still read from its
	// copy. The bridge starts after that, from a loop task, so it is the
	// socket's only reader (and its only holder: closing a descriptor then
	// also takes it out of the bridge's epoll set).
	if !c.loop.Post(start) {
		sock.CloseFD(client.FD)
		sock.CloseFD(backLeg.FD)
		e.fds.Release(fdbudget.Bridge, 2)
		slot.Release()
	}
}

// sessionEnded is the bridge's callback: one audit line per session.
func (e *Engine) sessionEnded(info splice.Info, st splice.Stats) {
	e.opt.Observer.SessionEnded(info.Protocol, info.Destination, info.Bridge, st.ClientToBackend, st.BackendToClient)
	e.log.LogAttrs(context.Background(), slog.LevelInfo, "session ended",
		slog.String("session", e.sessionName(info.ID)), slog.String("account", info.Account),
		slog.String("protocol", info.Protocol), slog.String("client", info.Client),
		slog.String("destination", info.Destination), slog.Float64("duration_s", seconds(st.Duration)),
		slog.Int64("bytes_in", st.ClientToBackend), slog.Int64("bytes_out", st.BackendToClient),
		slog.String("reason", st.Reason))
}
