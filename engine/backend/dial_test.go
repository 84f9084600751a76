package backend

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/engine/options"
)

// TestDialSourceAddresses: a destination with source addresses dials from
// them in turn, with the port left to connect(2) (IP_BIND_ADDRESS_NO_PORT,
// so each backend has the whole ephemeral range); one without dials from
// wherever the kernel routes, with no bind at all.
func TestDialSourceAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	d := &Dialer{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	noPort := func(c net.Conn) int {
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		v := -1
		var gerr error
		if err := rc.Control(func(fd uintptr) {
			v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT)
		}); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		return v
	}

	sources := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}
	bound := &options.Destination{ID: "bound", Host: "127.0.0.1", SourceAddrs: sources}
	seen := map[netip.Addr]bool{}
	for range 4 {
		c, err := d.Dial(ctx, bound, port)
		if err != nil {
			t.Fatal(err)
		}
		local := c.LocalAddr().(*net.TCPAddr).AddrPort()
		seen[local.Addr().Unmap()] = true
		if v := noPort(c); v != 1 {
			t.Errorf("dial from %v: IP_BIND_ADDRESS_NO_PORT = %d, want 1", local, v)
		}
		c.Close()
	}
	if len(seen) != 2 || !seen[sources[0]] || !seen[sources[1]] {
		t.Errorf("source addresses used: %v, want both of %v", seen, sources)
	}

	free := &options.Destination{ID: "free", Host: "127.0.0.1"}
	c, err := d.Dial(ctx, free, port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap(); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("unbound dial from %v, want 127.0.0.1", got)
	}
	if v := noPort(c); v != 0 {
		t.Errorf("unbound dial: IP_BIND_ADDRESS_NO_PORT = %d, want 0 (no source address, no bind)", v)
	}
}
