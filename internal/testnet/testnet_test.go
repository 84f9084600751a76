package testnet

import (
	"errors"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// A connection to the address is refused, and nothing else can listen
// there while the test holds it.
func TestRefusingAddr(t *testing.T) {
	addr := RefusingAddr(t)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s succeeded", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
	if runtime.GOOS != "linux" {
		return // only Linux holds the port
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatalf("listen on %s succeeded while it is held", addr)
	}
}
