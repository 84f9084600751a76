// Package sessions describes live sessions for the admin API (Info and
// its states) and lists those that belong to no event loop (Table).
package sessions

import (
	"sync"
	"sync/atomic"
	"time"
)

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

// Info describes one live session.
type Info struct {
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

// Entry is a session that belongs to no event loop (an HTTP/2
// connection or stream): what it shows, and how to end it.
type Entry struct {
	Info Info
	Kick func()
}

// Table lists such sessions by id.
type Table struct {
	mu sync.Mutex
	m  map[uint64]*Entry
	n  atomic.Int64
}

// Add lists r and returns it.
func (g *Table) Add(r *Entry) *Entry {
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[uint64]*Entry)
	}
	g.m[r.Info.ID] = r
	g.mu.Unlock()
	g.n.Add(1)
	return r
}

// Remove unlists r (nil: nothing).
func (g *Table) Remove(r *Entry) {
	if r == nil {
		return
	}
	g.mu.Lock()
	if g.m[r.Info.ID] == r {
		delete(g.m, r.Info.ID)
		g.n.Add(-1)
	}
	g.mu.Unlock()
}

// List returns the sessions listed now.
func (g *Table) List() []*Entry {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*Entry, 0, len(g.m))
	for _, r := range g.m {
		out = append(out, r)
	}
	return out
}

// Len is how many are listed.
func (g *Table) Len() int64 { return g.n.Load() }
