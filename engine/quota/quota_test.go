package quota

import (
	"net/netip"
	"sync/atomic"
	"testing"
)

func TestKeyGroupsIPv6By64(t *testing.T) {
	a := Key(netip.MustParseAddr("2001:db8:1:2::5"))
	b := Key(netip.MustParseAddr("2001:db8:1:2:ffff::1"))
	if a != b || a != netip.MustParseAddr("2001:db8:1:2::") {
		t.Fatalf("one /64, two keys: %v %v", a, b)
	}
	if k := Key(netip.MustParseAddr("::ffff:192.0.2.7")); k != netip.MustParseAddr("192.0.2.7") {
		t.Fatalf("mapped IPv4: %v", k)
	}
}

func TestCounterCap(t *testing.T) {
	var c Counter
	k := Key(netip.MustParseAddr("192.0.2.1"))
	for i, want := range []bool{true, true, false} {
		if got := c.Acquire(k, 2); got != want {
			t.Fatalf("acquire %d under a cap of 2: %v", i+1, got)
		}
	}
	c.Release(k)
	if !c.Acquire(k, 2) {
		t.Fatal("a released count was not given back")
	}
	if !c.Acquire(Key(netip.MustParseAddr("192.0.2.2")), 2) {
		t.Fatal("another address was refused")
	}
	if !c.Acquire(k, 0) {
		t.Fatal("no cap refused")
	}
}

func TestHandshakesRollBack(t *testing.T) {
	h := Handshakes{Max: 10, PerListener: 10, PerAddr: 1}
	var ls atomic.Int64
	a := netip.MustParseAddr("192.0.2.1")
	if !h.Acquire(&ls, a) {
		t.Fatal("first handshake refused")
	}
	if h.Acquire(&ls, a) {
		t.Fatal("per-address cap of 1 not kept")
	}
	if h.InFlight() != 1 || ls.Load() != 1 {
		t.Fatalf("a refusal left counts behind: %d %d", h.InFlight(), ls.Load())
	}
	h.Release(&ls, a)
	if h.InFlight() != 0 || ls.Load() != 0 {
		t.Fatalf("release: %d %d", h.InFlight(), ls.Load())
	}
}
