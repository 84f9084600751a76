package engine

import (
	"time"

	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/splice"
)

// bridge hands a client and its backend leg to the bridge. It runs on the
// loop while the session holds both live connections (at a login's verdict,
// at an HTTP 101), so each duplicated descriptor is the socket the session
// owns: there is no later retry that could find a reused descriptor number.
// gnet must hold no unsent output for either socket (it drops it at close):
// when it does, even after a flush, the session fails instead.
// clientPrelude is written to the client first (the backend's verdict); the
// client's unconsumed input goes to the backend first.
func (e *Engine) bridge(c *conn, l *leg, clientPrelude []byte, account string) {
	fail := func(why string) {
		e.refusal("handoff_" + why)
		e.log.Warn("hand-off to the bridge failed", "session", c.id, "client", c.fwd.Client, "account", account, "reason", why)
		l.drop()
		c.close()
	}
	if c.phase != phOpen || c.closing || l.st != legOpen {
		fail("gone")
		return
	}
	for _, gc := range []interface {
		OutboundBuffered() int
		Flush() error
	}{c.gc, l.gc} {
		if gc.OutboundBuffered() > 0 {
			_ = gc.Flush()
			if gc.OutboundBuffered() > 0 {
				fail("unsent_output")
				return
			}
		}
	}
	backendPrelude := append([]byte(nil), c.in...)
	c.in = nil
	cfd, err := c.detach()
	if err != nil {
		fail("client_" + err.Error())
		return
	}
	bfd, err := l.detach()
	if err != nil {
		closeFD(cfd)
		e.fds.Release(fdbudget.Bridge, 1)
		e.refusal("handoff_backend")
		e.log.Warn("hand-off to the bridge failed", "session", c.id, "account", account, "err", err)
		l.drop()
		c.slot.release()
		e.reg.remove(c.reg)
		return
	}
	client := splice.Leg{FD: cfd, Prelude: clientPrelude}
	if c.tls.active {
		client.TLS, client.Transport = c.tls.tc, c.tls.tr
	}
	backend := splice.Leg{FD: bfd, Prelude: backendPrelude}
	if l.tls.active {
		backend.TLS, backend.Transport = l.tls.tc, l.tls.tr
	}
	info := splice.Info{
		ID: c.id, Account: account, Protocol: c.ls.Protocol,
		Destination: l.dest.ID, Client: c.fwd.Client.String(),
	}
	kind := "splice"
	if c.tls.active || l.tls.active || !splice.ZeroCopy(e.opt.Bridge) {
		kind = "copy"
	}
	e.Stats.Bridged.Add(1)
	e.opt.Observer.SessionStarted(info.Protocol, info.Destination, kind)
	slot, reg := c.slot, c.reg
	si := c.snapshotInfo()
	si.State, si.Account, si.Destination, si.Bridge = StateBridged, account, l.dest.ID, kind
	reg.update(si)
	ended := func(info splice.Info, st splice.Stats) {
		e.fds.Release(fdbudget.Bridge, 2)
		slot.release()
		e.reg.remove(reg)
		e.sessionEnded(info, st, kind)
	}
	s, err := e.opt.Bridge.Start(client, backend, info, ended)
	if err != nil {
		// The bridge closed both sockets and will not call ended.
		e.fds.Release(fdbudget.Bridge, 2)
		slot.release()
		e.reg.remove(reg)
		e.opt.Observer.SessionEnded(info.Protocol, info.Destination, kind, 0, 0)
		e.log.Error("bridge refused the session", "account", account, "err", err)
		return
	}
	reg.setBridged(s)
}

// sessionEnded is the bridge's callback: one audit line per session.
func (e *Engine) sessionEnded(info splice.Info, st splice.Stats, kind string) {
	e.opt.Observer.SessionEnded(info.Protocol, info.Destination, kind, st.ClientToBackend, st.BackendToClient)
	e.log.Info("session ended",
		"session", info.ID, "account", info.Account, "protocol", info.Protocol,
		"client", info.Client, "destination", info.Destination,
		"duration", st.Duration.Round(time.Millisecond), "bytes_in", st.ClientToBackend,
		"bytes_out", st.BackendToClient, "reason", st.Reason)
}
