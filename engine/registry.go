package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/splice"
)

// One registry of live sessions, wherever they live: connections in the
// reactor (pre-auth, logging in, relayed), bridged sessions, HTTP/2
// connections and their streams. The admin API lists and kicks through it
// alone. An entry's description is an immutable snapshot, replaced when the
// session changes state, so readers on other goroutines never touch loop
// state.

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
	Parent      uint64 // an HTTP/2 stream's connection
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

type regEntry struct {
	id      uint64
	info    atomic.Pointer[SessionInfo]
	kick    atomic.Pointer[func()]
	bridged atomic.Pointer[splice.Session]
}

// update replaces the entry's description.
func (r *regEntry) update(si SessionInfo) {
	if r != nil {
		r.info.Store(&si)
	}
}

// setBridged makes kicks close the bridged session.
func (r *regEntry) setBridged(s *splice.Session) {
	if r == nil {
		return
	}
	r.bridged.Store(s)
	kick := func() { s.Close(splice.ReasonKicked) }
	r.kick.Store(&kick)
}

type registry struct {
	shards [32]struct {
		mu sync.Mutex
		m  map[uint64]*regEntry
	}
	n atomic.Int64
}

func (g *registry) add(id uint64, si SessionInfo, kick func()) *regEntry {
	r := &regEntry{id: id}
	r.info.Store(&si)
	r.kick.Store(&kick)
	s := &g.shards[id%uint64(len(g.shards))]
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[uint64]*regEntry)
	}
	s.m[id] = r
	s.mu.Unlock()
	g.n.Add(1)
	return r
}

func (g *registry) remove(r *regEntry) {
	if r == nil {
		return
	}
	s := &g.shards[r.id%uint64(len(g.shards))]
	s.mu.Lock()
	if s.m[r.id] == r {
		delete(s.m, r.id)
		g.n.Add(-1)
	}
	s.mu.Unlock()
}

// each calls fn for every live entry (no lock held during fn).
func (g *registry) each(fn func(*regEntry)) {
	var batch []*regEntry
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		batch = batch[:0]
		for _, r := range s.m {
			batch = append(batch, r)
		}
		s.mu.Unlock()
		for _, r := range batch {
			fn(r)
		}
	}
}

func (r *regEntry) snapshot() SessionInfo {
	si := *r.info.Load()
	if s := r.bridged.Load(); s != nil {
		si.BytesIn, si.BytesOut = s.Bytes()
	}
	return si
}

// Sessions lists every live session matching match (nil: all).
func (e *Engine) Sessions(match func(SessionInfo) bool) []SessionInfo {
	var out []SessionInfo
	e.reg.each(func(r *regEntry) {
		si := r.snapshot()
		if match == nil || match(si) {
			out = append(out, si)
		}
	})
	return out
}

// KickSessions ends every live session matching match and returns how
// many it asked to end. Sessions in the reactor say goodbye in their
// protocol; bridged ones are closed by the bridge; an HTTP/2 connection
// is closed, a stream is reset.
func (e *Engine) KickSessions(match func(SessionInfo) bool) int {
	n := 0
	e.reg.each(func(r *regEntry) {
		if si := r.snapshot(); match(si) {
			(*r.kick.Load())()
			n++
			e.event(Event{Kind: EventKick, Session: si.ID, Account: si.Account, Protocol: si.Protocol,
				Listener: si.Listener, Client: si.Client, Destination: si.Destination, Reason: si.State})
		}
	})
	return n
}

// ActiveSessions is the number of live sessions of every kind.
func (e *Engine) ActiveSessions() int64 { return e.reg.n.Load() }

// snapshotInfo describes a client connection as it stands.
func (c *conn) snapshotInfo() SessionInfo {
	return SessionInfo{
		ID: c.id, Listener: c.ls.ID, Protocol: c.ls.Protocol,
		Client: c.clientStr, State: StatePreauth, Started: c.accepted,
	}
}
