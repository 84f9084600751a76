package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/splice"
)

// One registry of live sessions, wherever they live, behind the admin
// API's list and kick: Sessions and KickSessions answer for connections in
// the reactor (pre-auth, logging in, relayed), bridged sessions, HTTP/2
// connections and their streams. Each kind is kept where it already is, so
// an idle connection costs nothing more to be listed: the reactor's
// connections are the loops' own sets, read on each loop; bridged sessions
// are the bridge's own list; HTTP/2 connections and streams, which live on
// goroutines of their own, are in a small map here.

// Session states shown by the admin API.
const (
	StatePreauth  = "preauth"  // TLS, greeting, pre-auth dialogue
	StateRouting  = "routing"  // resolving the account
	StateHeld     = "held"     // the account is delayed
	StateLogin    = "login"    // replaying the login at the backend
	StateRelaying = "relaying" // a relayed session (SMTP/LMTP, HTTP/1.1)
	StateBridged  = "bridged"  // in the bridge
	StateHTTP2    = "http2"    // an HTTP/2 connection
	StateStream   = "stream"   // an HTTP/2 stream in flight
)

// SessionInfo describes one live session.
type SessionInfo struct {
	ID          uint64
	Parent      uint64 // an HTTP/2 stream's connection (0: not known)
	Listener    string
	Protocol    string
	Client      string
	State       string
	Account     string
	Destination string
	Bridge      string // "splice" or "copy" once bridged
	Started     time.Time
	// BytesIn and BytesOut: client to backend and back (bridged sessions).
	BytesIn, BytesOut int64
}

// regEntry is an HTTP/2 connection or stream.
type regEntry struct {
	info SessionInfo
	kick func()
}

type registry struct {
	mu sync.Mutex
	m  map[uint64]*regEntry
	n  atomic.Int64
}

func (g *registry) add(r *regEntry) *regEntry {
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[uint64]*regEntry)
	}
	g.m[r.info.ID] = r
	g.mu.Unlock()
	g.n.Add(1)
	return r
}

func (g *registry) remove(r *regEntry) {
	if r == nil {
		return
	}
	g.mu.Lock()
	if g.m[r.info.ID] == r {
		delete(g.m, r.info.ID)
		g.n.Add(-1)
	}
	g.mu.Unlock()
}

func (g *registry) list() []*regEntry {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*regEntry, 0, len(g.m))
	for _, r := range g.m {
		out = append(out, r)
	}
	return out
}

// loopWait bounds how long listing or kicking waits for a busy loop.
const loopWait = time.Second

// onLoops runs fn on every loop and waits for them (each up to loopWait).
func (e *Engine) onLoops(fn func(l *loop)) {
	loops := e.allLoops()
	done := make(chan struct{}, len(loops))
	for _, l := range loops {
		l := l
		if !l.post(func() { fn(l); done <- struct{}{} }) {
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
func (e *Engine) Sessions(match func(SessionInfo) bool) []SessionInfo {
	var mu sync.Mutex
	var out []SessionInfo
	keep := func(si SessionInfo) {
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
	for _, r := range e.reg.list() {
		keep(r.info)
	}
	return out
}

// KickSessions ends every live session matching match and returns how
// many it asked to end. Sessions in the reactor say goodbye in their
// protocol; bridged ones are closed by the bridge; an HTTP/2 connection
// is closed, a stream is reset.
func (e *Engine) KickSessions(match func(SessionInfo) bool) int {
	var n atomic.Int64
	kicked := func(si SessionInfo) {
		n.Add(1)
		e.event(Event{Kind: EventKick, Session: si.ID, Account: si.Account, Protocol: si.Protocol,
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
	for _, r := range e.reg.list() {
		if match(r.info) {
			r.kick()
			kicked(r.info)
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
	return n + int64(len(e.opt.Bridge.Sessions())) + e.reg.n.Load()
}

// info describes a client connection in the reactor; on its loop.
func (c *conn) info() SessionInfo {
	si := SessionInfo{ID: c.id, Listener: c.ls.ID, Protocol: c.ls.Protocol, Client: c.client.String(),
		State: StatePreauth, Started: c.accepted}
	if c.phase == phOpen {
		si.State, si.Account, si.Destination = c.sess.describe()
	}
	return si
}

// bridgedInfo describes a bridged session.
func bridgedInfo(s *splice.Session) SessionInfo {
	info := s.Info()
	si := SessionInfo{ID: info.ID, Listener: info.Listener, Protocol: info.Protocol, Client: info.Client,
		State: StateBridged, Account: info.Account, Destination: info.Destination, Bridge: info.Bridge,
		Started: s.Started()}
	si.BytesIn, si.BytesOut = s.Bytes()
	return si
}
