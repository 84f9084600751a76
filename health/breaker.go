// Package health tracks whether each destination × protocol can take
// connections: a passive circuit breaker fed by the engine's own connection
// outcomes, plus an active checker that dials and reads the greeting at an
// interval and feeds the same state. It also holds the submission driver's
// start-up EHLO probe. Greetings and replies are judged by the sans-IO
// protocol packages; this package does the I/O around them.
//
// Breaker: after FailureThreshold consecutive failures the circuit opens
// and Allow refuses for Cooldown. Then exactly one caller gets a half-open
// probe (Allow returns true once); its Success closes the circuit, its
// Failure opens it for another Cooldown. A probe never reported is
// forgotten after ProbeTimeout so that the circuit cannot stay half-open.
// An active check's success closes the circuit as well.
//
// MinClients: a failure reported with FailureFrom names the client whose
// connection failed after the backend accepted it, which a backend may do
// to one client on purpose (a banned address it learnt from PROXY or
// XCLIENT). Such failures open the circuit only when the streak spans
// MinClients distinct client addresses (an IPv6 /64 counts once); a
// failure with no client (Failure: a refused or timed-out connect, a
// failed active check) is the host's and lets the streak open it as
// before.
//
// Allow, Success and Failure do no I/O and hold a lock only for a few
// instructions: the engine calls them from its event loops. Cluster ring
// nodes consult Allow through ring.LocateFunc, so an open node is skipped
// and its accounts go to their next node until it heals.
package health

import (
	"net/netip"
	"sync"
	"time"

	"github.com/switchyard-mail/switchyard/limits"
)

// State of one circuit.
type State uint8

const (
	Closed   State = iota // connections allowed
	Open                  // refused until the cooldown ends
	HalfOpen              // one probe in flight
)

func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "closed"
}

// Options configures a Registry.
type Options struct {
	// FailureThreshold consecutive failures open the circuit (default 5).
	FailureThreshold int
	// MinClients distinct client addresses a streak of FailureFrom
	// failures must span to open the circuit (default 1: any streak).
	MinClients int
	// Cooldown is how long an open circuit refuses before a probe (30s).
	Cooldown time.Duration
	// ProbeTimeout frees the half-open probe slot if the probe's outcome
	// is never reported (30s).
	ProbeTimeout time.Duration
	// OnChange, when set, is called after a circuit opens (up=false) or
	// closes (up=true), outside any lock, on the caller's goroutine: keep
	// it short (ring.SetDown is).
	OnChange func(dest, proto string, up bool)
	// Now is the clock (time.Now by default; tests pass their own).
	Now func() time.Time
}

type key struct{ dest, proto string }

type breaker struct {
	mu       sync.Mutex
	state    State
	fails    int
	until    time.Time // Open: end of cooldown
	probeAt  time.Time // HalfOpen: when the probe was granted
	lastErr  string
	failures uint64
	since    time.Time // when state last changed (zero: never)
	// The streak's sources: distinct client addresses (up to MinClients)
	// and whether a failure was the host's.
	clients   map[string]struct{}
	hostLevel bool
}

// opens reports whether the streak may open the circuit.
func (b *breaker) opens(minClients int) bool {
	return minClients <= 1 || b.hostLevel || len(b.clients) >= minClients
}

// clientKey is the address a client counts as: IPv4, or an IPv6 /64.
func clientKey(client string) string {
	if ap, err := netip.ParseAddrPort(client); err == nil {
		client = ap.Addr().String()
	}
	a, err := netip.ParseAddr(client)
	if err != nil {
		return client
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// Registry holds one breaker per destination × protocol. The zero value
// is not usable: call New.
type Registry struct {
	opt Options
	mu  sync.RWMutex
	m   map[key]*breaker
}

// New returns a registry; every circuit starts closed.
func New(opt Options) *Registry {
	// Zero fields take the configuration's defaults
	// (server.host_down_threshold, server.host_down_cooldown).
	opt.FailureThreshold = limits.Or(opt.FailureThreshold, limits.HostDownThreshold)
	opt.MinClients = limits.Or(opt.MinClients, limits.HostDownMinClients)
	opt.Cooldown = limits.Or(opt.Cooldown, limits.HostDownCooldown)
	opt.ProbeTimeout = limits.Or(opt.ProbeTimeout, limits.ProbeTimeout)
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Registry{opt: opt, m: map[key]*breaker{}}
}

func (r *Registry) get(dest, proto string) *breaker {
	k := key{dest, proto}
	r.mu.RLock()
	b := r.m[k]
	r.mu.RUnlock()
	if b != nil {
		return b
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b = r.m[k]; b == nil {
		b = &breaker{}
		r.m[k] = b
	}
	return b
}

// Allow reports whether a connection to dest for proto may be attempted.
// When it returns true for a circuit past its cooldown, the caller holds
// the single half-open probe and must report Success or Failure.
func (r *Registry) Allow(dest, proto string) bool {
	b := r.get(dest, proto)
	now := r.opt.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Closed:
		return true
	case Open:
		if now.Before(b.until) {
			return false
		}
		b.state, b.probeAt, b.since = HalfOpen, now, now
		return true
	default: // HalfOpen
		if now.Sub(b.probeAt) < r.opt.ProbeTimeout {
			return false
		}
		b.probeAt = now // the probe was lost: grant another
		return true
	}
}

// Up reports, without taking a probe, whether the circuit is closed.
func (r *Registry) Up(dest, proto string) bool { return r.State(dest, proto) == Closed }

// State returns the circuit's state.
func (r *Registry) State(dest, proto string) State {
	b := r.get(dest, proto)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// Success records a connection (or check) that worked: the circuit closes.
func (r *Registry) Success(dest, proto string) {
	b := r.get(dest, proto)
	b.mu.Lock()
	changed := b.state != Closed
	b.state, b.fails = Closed, 0
	b.clients, b.hostLevel = nil, false
	if changed {
		b.since = r.opt.Now()
	}
	b.mu.Unlock()
	if changed && r.opt.OnChange != nil {
		r.opt.OnChange(dest, proto, true)
	}
}

// Failure records a failed connection (or check) that is the host's: a
// connect refused or timed out. The circuit opens at the threshold, or at
// once when the failure is the half-open probe's.
func (r *Registry) Failure(dest, proto string) { r.fail(dest, proto, "", "") }

// FailureFrom records a failure of client's connection after the backend
// accepted it (it closed, refused the greeting or the forwarded address).
// It counts towards the threshold like Failure, but opens the circuit
// only once the streak spans MinClients client addresses (or holds a
// failure of the host's). An empty client is Failure.
func (r *Registry) FailureFrom(dest, proto, client string) { r.fail(dest, proto, "", client) }

func (r *Registry) fail(dest, proto, why, client string) {
	b := r.get(dest, proto)
	now := r.opt.Now()
	b.mu.Lock()
	b.failures++
	if why != "" {
		b.lastErr = why
	}
	if client == "" {
		b.hostLevel = true
	} else if len(b.clients) < r.opt.MinClients {
		if b.clients == nil {
			b.clients = make(map[string]struct{}, r.opt.MinClients)
		}
		b.clients[clientKey(client)] = struct{}{}
	}
	opened := false
	switch b.state {
	case Closed:
		b.fails++
		if b.fails >= r.opt.FailureThreshold && b.opens(r.opt.MinClients) {
			b.state, b.until, b.since, opened = Open, now.Add(r.opt.Cooldown), now, true
		}
	case HalfOpen:
		b.fails++
		b.state, b.until, b.since = Open, now.Add(r.opt.Cooldown), now
	case Open:
		// Already open (a late report, or an active check): extend.
		b.fails++
		b.until = now.Add(r.opt.Cooldown)
	}
	b.mu.Unlock()
	if opened && r.opt.OnChange != nil {
		r.opt.OnChange(dest, proto, false)
	}
}

// Status is a circuit's state for reports.
type Status struct {
	Dest, Proto string
	State       State
	Failures    uint64 // all failures recorded
	LastError   string // of the last failed active check
	// Consecutive failures since the last success (what opened it).
	Consecutive int
	// Sources is how many distinct client addresses the streak's
	// FailureFrom failures came from (counted up to MinClients);
	// HostLevel is true when it holds a failure of the host's.
	Sources   int
	HostLevel bool
	// Since is when the state last changed (zero: closed since start).
	Since time.Time
	// OpenUntil is when an open circuit lets a probe through.
	OpenUntil time.Time
}

// Snapshot returns every circuit's status (in no particular order).
func (r *Registry) Snapshot() []Status {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Status, 0, len(r.m))
	for k, b := range r.m {
		b.mu.Lock()
		st := Status{Dest: k.dest, Proto: k.proto, State: b.state, Failures: b.failures, LastError: b.lastErr,
			Consecutive: b.fails, Since: b.since, Sources: len(b.clients), HostLevel: b.hostLevel}
		if b.state == Open {
			st.OpenUntil = b.until
		}
		out = append(out, st)
		b.mu.Unlock()
	}
	return out
}
