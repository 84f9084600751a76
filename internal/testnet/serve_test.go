package testnet

import (
	"io"
	"net"
	"testing"
	"time"
)

// A greeter greets and counts each connection; after Close it refuses
// them, and Serve's loop has ended.
func TestGreeter(t *testing.T) {
	g := StartGreeter(t, "* OK hi\r\n")
	for i := 1; i <= 2; i++ {
		c, err := net.Dial("tcp", g.Addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "* OK hi\r\n" {
			t.Fatalf("greeting %q, %v", got, err)
		}
		if n := g.Count(); n != int64(i) {
			t.Fatalf("count %d after %d connections", n, i)
		}
	}
	g.Close()
	if c, err := net.DialTimeout("tcp", g.Addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatal("a closed greeter still accepts")
	}
}

// Serve's done is closed once its listener is closed.
func TestServeDone(t *testing.T) {
	ln := Listen(t)
	done := Serve(ln, func(c net.Conn) { c.Close() })
	ln.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the accept loop did not end")
	}
}
