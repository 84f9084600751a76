package engine

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
type handshakes struct {
	max, perListener, perAddr int
	total                     atomic.Int64
	byAddr                    addrCounter
}

func (h *handshakes) acquire(ls *listenerState, a netip.Addr) bool {
	if h.total.Add(1) > int64(h.max) {
		h.total.Add(-1)
		return false
	}
	if ls.handshakes.Add(1) > int64(h.perListener) {
		ls.handshakes.Add(-1)
		h.total.Add(-1)
		return false
	}
	if !h.byAddr.acquire(addrKey(a), h.perAddr) {
		ls.handshakes.Add(-1)
		h.total.Add(-1)
		return false
	}
	return true
}

func (h *handshakes) release(ls *listenerState, a netip.Addr) {
	h.byAddr.release(addrKey(a))
	ls.handshakes.Add(-1)
	h.total.Add(-1)
}

// InFlight is the number of client handshakes running now.
func (h *handshakes) InFlight() int64 { return h.total.Load() }
