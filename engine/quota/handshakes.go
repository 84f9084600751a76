package quota

import (
	"net/netip"
	"sync/atomic"
)

// Client TLS handshakes are admitted three ways: in the whole process
// (each costs a goroutine and ~9 KB while it runs), per listener (one
// flooded port does not starve the others) and per client address (one
// host cannot take everyone's slots). A connection asks only once its
// first ClientHello byte arrives: an idle TCP connection holds no slot and
// is closed after FirstByteTimeout.
//
// Handshakes counts them in the process and by address; each listener
// keeps its own count, passed in.
type Handshakes struct {
	Max, PerListener, PerAddr int
	total                     atomic.Int64
	byAddr                    Counter
}

// Acquire admits a handshake from a on the listener whose count is
// listener, or reports false when a cap is reached.
func (h *Handshakes) Acquire(listener *atomic.Int64, a netip.Addr) bool {
	if h.total.Add(1) > int64(h.Max) {
		h.total.Add(-1)
		return false
	}
	if listener.Add(1) > int64(h.PerListener) {
		listener.Add(-1)
		h.total.Add(-1)
		return false
	}
	if !h.byAddr.Acquire(Key(a), h.PerAddr) {
		listener.Add(-1)
		h.total.Add(-1)
		return false
	}
	return true
}

// Release gives back a handshake Acquire admitted.
func (h *Handshakes) Release(listener *atomic.Int64, a netip.Addr) {
	h.byAddr.Release(Key(a))
	listener.Add(-1)
	h.total.Add(-1)
}

// InFlight is the number of client handshakes running now.
func (h *Handshakes) InFlight() int64 { return h.total.Load() }
