package engine

import (
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/splice"
)

// authenticated runs in the backend's callback when the backend accepted the
// login: the client gets the backend's verdict (and anything the backend
// sent after it) as the bridge's first bytes, then both legs are bridged.
func (cc *clientConn) authenticated(bc *backendConn) gnet.Action {
	relay := make([]byte, 0, len(bc.proto.Relay())+len(bc.in))
	relay = append(relay, bc.proto.Relay()...)
	relay = append(relay, bc.in...)
	bc.in = nil
	cc.prelude = relay
	cc.state = stBridging
	cc.deadline = time.Now().Add(cc.e.opt.BackendTimeout)
	if cc.tryHandoff(bc.c) {
		return gnet.Close
	}
	return gnet.None
}

// tryHandoff moves both sockets to the bridge once gnet holds no unsent
// output for either (gnet drops pending output on close). self is the
// connection whose callback is running (nil from the sweep): it is closed by
// returning gnet.Close, the other synchronously here, so gnet reads nothing
// more from either socket. It reports whether the hand-off happened.
func (cc *clientConn) tryHandoff(self gnet.Conn) bool {
	bc := cc.back
	if cc.c.OutboundBuffered() > 0 || bc.c.OutboundBuffered() > 0 {
		return false
	}
	e := cc.e
	if cc.rel != nil {
		// A relayed session's upgrade: what the backend sent after its
		// 101 goes to the client first.
		cc.prelude, bc.in = bc.in, nil
	}
	cfd, err := cc.c.Dup()
	if err != nil {
		e.log.Error("dup of client socket failed", "err", err)
		cc.failHandoff(self)
		return self == cc.c || self == bc.c
	}
	bfd, err := bc.c.Dup()
	if err != nil {
		e.log.Error("dup of backend socket failed", "err", err)
		closeFD(cfd)
		cc.failHandoff(self)
		return self == cc.c || self == bc.c
	}
	client := splice.Leg{FD: cfd, Prelude: cc.prelude}
	if cc.tlsActive {
		client.TLS, client.Transport = cc.tc, cc.tlsT
	}
	backend := splice.Leg{FD: bfd, Prelude: cc.in}
	if bc.tlsActive {
		backend.TLS, backend.Transport = bc.tc, bc.tlsT
	}
	info := splice.Info{
		ID: cc.id, Account: cc.account, Protocol: cc.ls.Protocol,
		Destination: bc.dest.ID, Client: cc.fwd.Client.String(),
	}
	kind := "splice"
	if cc.tlsActive || bc.tlsActive || !splice.ZeroCopy(e.opt.Bridge) {
		kind = "copy"
	}
	cc.leaveReactor()
	bc.detached = true
	if self != cc.c {
		_ = cc.loop.el.Close(cc.c)
	}
	if self != bc.c {
		_ = cc.loop.el.Close(bc.c)
	}
	e.fdsInUse.Add(2)
	e.Stats.Bridged.Add(1)
	e.opt.Observer.SessionStarted(info.Protocol, info.Destination, kind)
	ended := func(info splice.Info, st splice.Stats) { e.sessionEnded(info, st, kind) }
	if _, err := e.opt.Bridge.Start(client, backend, info, ended); err != nil {
		e.opt.Observer.SessionEnded(info.Protocol, info.Destination, kind, 0, 0)
		// The bridge closed both sockets and will not call sessionEnded.
		e.fdsInUse.Add(-2)
		e.log.Error("bridge refused the session", "account", info.Account, "err", err)
	}
	return true
}

// leaveReactor ends the engine's bookkeeping of a client whose socket was
// duplicated for the bridge or the HTTP/2 server; the caller closes
// gnet's copy.
func (cc *clientConn) leaveReactor() {
	e := cc.e
	if cc.rel != nil {
		e.Stats.Relaying.Add(-1)
	}
	if cc.counted {
		cc.counted = false
		e.opt.Observer.ConnLeft(cc.ls.ID, cc.ls.Protocol)
	}
	cc.state = stDone
	cc.prelude, cc.in, cc.login = nil, nil, nil
	delete(cc.loop.clients, cc)
}

func (cc *clientConn) failHandoff(self gnet.Conn) {
	cc.state = stClosing
	if self != cc.c {
		_ = cc.loop.el.Close(cc.c)
	}
	if b := cc.back; b != nil && self != b.c {
		b.dropped = true
		_ = cc.loop.el.Close(b.c)
	}
}

// sessionEnded is the bridge's callback: one audit line per session.
func (e *Engine) sessionEnded(info splice.Info, st splice.Stats, kind string) {
	e.fdsInUse.Add(-2)
	e.opt.Observer.SessionEnded(info.Protocol, info.Destination, kind, st.ClientToBackend, st.BackendToClient)
	e.log.Info("session ended",
		"session", info.ID, "account", info.Account, "protocol", info.Protocol,
		"client", info.Client, "destination", info.Destination,
		"duration", st.Duration.Round(time.Millisecond), "bytes_in", st.ClientToBackend,
		"bytes_out", st.BackendToClient, "reason", st.Reason)
}
