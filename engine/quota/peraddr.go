package quota

import (
	"net/netip"
	"sync"
)

// Key groups client addresses the way limits count them: an IPv4
// address on its own, an IPv6 address by its /64 (one host or one site can
// take a whole /64 for the price of one).
func Key(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// Counter counts what each client address holds (connections of a
// listener, TLS handshakes in flight) and refuses past a cap. It is shared
// by the acceptors and the event loops, so it is sharded to keep the locks
// short and uncontended.
type Counter struct {
	shards [16]shard
}

type shard struct {
	mu sync.Mutex
	n  map[netip.Addr]int32
}

func (c *Counter) shard(k netip.Addr) *shard {
	b := k.As16()
	h := uint32(b[15]) ^ uint32(b[14])<<3 ^ uint32(b[13])<<5 ^ uint32(b[12])<<7 ^ uint32(b[7]) ^ uint32(b[6])<<2
	return &c.shards[h%uint32(len(c.shards))]
}

// Acquire counts one more for k unless k already holds limit (limit <= 0:
// no cap). It reports whether it counted.
func (c *Counter) Acquire(k netip.Addr, limit int) bool {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.n[k]
	if limit > 0 && int(n) >= limit {
		return false
	}
	if s.n == nil {
		s.n = make(map[netip.Addr]int32)
	}
	s.n[k] = n + 1
	return true
}

// Release gives back one count of k.
func (c *Counter) Release(k netip.Addr) {
	s := c.shard(k)
	s.mu.Lock()
	if n := s.n[k]; n <= 1 {
		delete(s.n, k)
	} else {
		s.n[k] = n - 1
	}
	s.mu.Unlock()
}
