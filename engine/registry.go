package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/splice"
)

// One registry of live sessions, wherever they live, behind the admin
// API's list and kick: Sessions and KickSessions answer for connections in
// the reactor (pre-auth, logging in, relayed), bridged sessions, HTTP/2
// connections and their streams. Each kind is kept where it already is, so
// an idle connection costs nothing more to be listed: the reactor's
// connections are the loops' own sets, read on each loop; bridged sessions
// are the bridge's own list; HTTP/2 connections and streams, which live on
// goroutines of their own, are in a small map (sessions.Table).

// loopWait bounds how long listing or kicking waits for a busy loop.
const loopWait = time.Second

// onLoops runs fn on every loop and waits for them (each up to loopWait).
func (e *Engine) onLoops(fn func(l *loop)) {
	loops := e.allLoops()
	done := make(chan struct{}, len(loops))
	for _, l := range loops {
		l := l
		if !l.Post(func() { fn(l); done <- struct{}{} }) {
			done <- struct{}{}
		}
	}
	timeout := time.NewTimer(loopWait)
	defer timeout.Stop()
	for range loops {
		select {
		case <-done:
		case <-timeout.C:
			return
		}
	}
}

// Sessions lists every live session matching match (nil: all).
func (e *Engine) Sessions(match func(sessions.Info) bool) []sessions.Info {
	var mu sync.Mutex
	var out []sessions.Info
	keep := func(si sessions.Info) {
		if match == nil || match(si) {
			mu.Lock()
			out = append(out, si)
			mu.Unlock()
		}
	}
	e.onLoops(func(l *loop) {
		for c := range l.conns {
			if c.phase != phGone {
				keep(c.info())
			}
		}
	})
	for _, s := range e.opt.Bridge.Sessions() {
		keep(bridgedInfo(s))
	}
	for _, r := range e.reg.List() {
		keep(r.Info)
	}
	return out
}

// KickSessions ends every live session matching match and returns how
// many it asked to end. Sessions in the reactor say goodbye in their
// protocol; bridged ones are closed by the bridge; an HTTP/2 connection
// is closed, a stream is reset.
func (e *Engine) KickSessions(match func(sessions.Info) bool) int {
	var n atomic.Int64
	kicked := func(si sessions.Info) {
		n.Add(1)
		e.event(options.Event{Kind: options.EventKick, Session: si.ID, Account: si.Account, Protocol: si.Protocol,
			Listener: si.Listener, Client: si.Client, Destination: si.Destination, Reason: si.State})
	}
	e.onLoops(func(l *loop) {
		for c := range l.conns {
			if c.phase == phGone || c.closing {
				continue
			}
			if si := c.info(); match(si) {
				c.kick()
				kicked(si)
			}
		}
	})
	for _, s := range e.opt.Bridge.Sessions() {
		if si := bridgedInfo(s); match(si) {
			s.Close(splice.ReasonKicked)
			kicked(si)
		}
	}
	for _, r := range e.reg.List() {
		if match(r.Info) {
			r.Kick()
			kicked(r.Info)
		}
	}
	return int(n.Load())
}

// ActiveSessions is the number of live sessions of every kind.
func (e *Engine) ActiveSessions() int64 {
	var n int64
	for _, l := range e.allLoops() {
		n += l.nconns.Load()
	}
	return n + int64(len(e.opt.Bridge.Sessions())) + e.reg.Len()
}

// info describes a client connection in the reactor; on its loop.
func (c *conn) info() sessions.Info {
	si := sessions.Info{ID: c.id, Listener: c.ls.ID, Protocol: c.ls.Protocol, Client: c.client.String(),
		State: sessions.StatePreauth, Started: time.Unix(0, c.accepted)}
	if c.phase == phOpen {
		si.State, si.Account, si.Destination = c.sess.Describe()
	}
	return si
}

// bridgedInfo describes a bridged session.
func bridgedInfo(s *splice.Session) sessions.Info {
	info := s.Info()
	si := sessions.Info{ID: info.ID, Listener: info.Listener, Protocol: info.Protocol, Client: info.Client,
		State: sessions.StateBridged, Account: info.Account, Destination: info.Destination, Bridge: info.Bridge,
		Started: s.Started()}
	si.BytesIn, si.BytesOut = s.Bytes()
	return si
}
