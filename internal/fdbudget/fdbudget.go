// Package fdbudget counts the file descriptors switchyard holds against
// RLIMIT_NOFILE, so that work is refused before the kernel refuses a
// descriptor. Every place that creates descriptors on demand (accepted
// sockets, backend dials, splice pipes, HTTP/2 backend connections, admin
// and health-check connections) asks the budget first and gives back what
// it closed. A reserve stays free for what cannot ask (the Go runtime, DNS,
// log files, store reconnects), so running out of budget is a refusal in
// the protocol's words, never an EMFILE in a place that cannot cope.
package fdbudget

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/limits"
)

// Kind says what a descriptor is for (metrics and debugging).
type Kind uint8

// Kinds of descriptors.
const (
	Base    Kind = iota // open when the budget was made, and reservations
	Client              // accepted client sockets in the reactor
	Backend             // backend legs in the reactor, dials in flight
	Bridge              // sockets of bridged sessions
	Pipe                // splice(2) pipes (two descriptors each)
	HTTP2               // HTTP/2 client connections and their backend connections
	Admin               // admin API connections
	Health              // active health checks
	numKinds
)

var kindNames = [numKinds]string{"base", "client", "backend", "bridge", "pipe", "http2", "admin", "health"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// DefaultReserve is kept free below the limit for descriptors nobody asks
// the budget for: the runtime, the resolver, store pools and log files
// (limits.FDReserve).
const DefaultReserve = limits.FDReserve

// Budget is safe for concurrent use. The zero value is not usable: call New.
type Budget struct {
	limit   int64
	reserve int64
	used    atomic.Int64
	kinds   [numKinds]atomic.Int64
	refused [numKinds]atomic.Int64
}

// New reads RLIMIT_NOFILE and the descriptors already open, and keeps
// reserve free (DefaultReserve when reserve <= 0).
func New(reserve int) *Budget {
	var rl unix.Rlimit
	limit := int64(1024)
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil && rl.Cur > 0 && rl.Cur < 1<<40 {
		limit = int64(rl.Cur)
	}
	return NewWithLimit(limit, reserve, openDescriptors())
}

// NewWithLimit is New with an explicit limit and count of descriptors
// already open (tests).
func NewWithLimit(limit int64, reserve int, open int) *Budget {
	if reserve <= 0 {
		reserve = DefaultReserve
	}
	b := &Budget{limit: limit, reserve: min(int64(reserve), limit/4)}
	b.Acquire(Base, open)
	return b
}

// openDescriptors counts the process's open descriptors.
func openDescriptors() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 16
	}
	return len(ents)
}

// TryAcquire takes n descriptors of kind k if they fit below the limit
// minus the reserve, and reports whether it did.
func (b *Budget) TryAcquire(k Kind, n int) bool {
	if b == nil {
		return true
	}
	max := b.limit - b.reserve
	for {
		used := b.used.Load()
		if used+int64(n) > max {
			b.refused[k].Add(1)
			return false
		}
		if b.used.CompareAndSwap(used, used+int64(n)) {
			b.kinds[k].Add(int64(n))
			return true
		}
	}
}

// Acquire counts n descriptors that exist already (or must exist: the
// reserve is for them).
func (b *Budget) Acquire(k Kind, n int) {
	if b == nil {
		return
	}
	b.used.Add(int64(n))
	b.kinds[k].Add(int64(n))
}

// Release gives back n descriptors of kind k.
func (b *Budget) Release(k Kind, n int) {
	if b == nil {
		return
	}
	b.used.Add(-int64(n))
	b.kinds[k].Add(-int64(n))
}

// Move reclassifies n descriptors (a socket handed from the reactor to the
// bridge keeps its count).
func (b *Budget) Move(from, to Kind, n int) {
	if b == nil {
		return
	}
	b.kinds[from].Add(-int64(n))
	b.kinds[to].Add(int64(n))
}

// Used is the number of descriptors counted now.
func (b *Budget) Used() int64 { return b.used.Load() }

// Limit is RLIMIT_NOFILE as read at New.
func (b *Budget) Limit() int64 { return b.limit }

// Free is how many descriptors TryAcquire may still hand out.
func (b *Budget) Free() int64 { return b.limit - b.reserve - b.used.Load() }

// Usage is one kind's count and how often a request for it was refused.
type Usage struct {
	Kind    string
	InUse   int64
	Refused int64
}

// Usage lists every kind.
func (b *Budget) Usage() []Usage {
	out := make([]Usage, 0, numKinds)
	for k := Kind(0); k < numKinds; k++ {
		out = append(out, Usage{Kind: k.String(), InUse: b.kinds[k].Load(), Refused: b.refused[k].Load()})
	}
	return out
}

// ErrExhausted is returned by Dialer when the budget refuses.
var ErrExhausted = errors.New("descriptor budget exhausted")

// Dialer returns a dial function whose connections are counted as kind
// from the dial until they are closed; past the budget it refuses.
func (b *Budget) Dialer(kind Kind, d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if !b.TryAcquire(kind, 1) {
			return nil, ErrExhausted
		}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			b.Release(kind, 1)
			return nil, err
		}
		return &countedConn{Conn: c, b: b, kind: kind}, nil
	}
}

// Listener counts the connections ln accepts as kind until they are
// closed. It never refuses (what it serves must stay reachable: the admin
// API); it only keeps the count true.
func (b *Budget) Listener(ln net.Listener, kind Kind) net.Listener {
	return &countedListener{Listener: ln, b: b, kind: kind}
}

type countedListener struct {
	net.Listener
	b    *Budget
	kind Kind
}

func (l *countedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.b.Acquire(l.kind, 1)
	return &countedConn{Conn: c, b: l.b, kind: l.kind}, nil
}

// countedConn gives its descriptor back once, when closed.
type countedConn struct {
	net.Conn
	b    *Budget
	kind Kind
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.b.Release(c.kind, 1) })
	return err
}

// Unwrap returns the counted connection (for code that needs the
// *net.TCPConn, such as a TLS server reading its state).
func (c *countedConn) Unwrap() net.Conn { return c.Conn }
