package testnet

import (
	"net"
	"sync/atomic"
	"testing"
)

// Listen binds 127.0.0.1:0 (a port no other test can be handed) until
// the test ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Pair dials ln and accepts that connection: the two ends of one TCP
// connection, both closed when the test ends (closing an end the test has
// closed already is harmless).
func Pair(t testing.TB, ln net.Listener) (dialed, accepted net.Conn) {
	t.Helper()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close() })
	accepted, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accepted.Close() })
	return dialed, accepted
}

// Serve accepts on ln until it is closed, on a goroutine of its own, and
// hands each connection to handle there: a handle that must not hold up
// the next connection starts its own goroutine. done is closed when the
// loop has ended (after the last handle on it returned).
func Serve(ln net.Listener, handle func(net.Conn)) (done <-chan struct{}) {
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
	return ended
}

// Greeter is a loopback backend that writes one greeting to every
// connection, closes it and counts it: all an active check, a probe or a
// login that must not get through needs to find.
type Greeter struct {
	Addr string
	ln   net.Listener
	n    atomic.Int64
}

// StartGreeter listens on 127.0.0.1:0 until the test ends.
func StartGreeter(t testing.TB, greeting string) *Greeter {
	t.Helper()
	ln := Listen(t)
	g := &Greeter{Addr: ln.Addr().String(), ln: ln}
	Serve(ln, func(c net.Conn) {
		g.n.Add(1)
		_, _ = c.Write([]byte(greeting))
		c.Close()
	})
	return g
}

// Count is how many connections the greeter has accepted.
func (g *Greeter) Count() int64 { return g.n.Load() }

// Close stops accepting: later connections are refused.
func (g *Greeter) Close() { g.ln.Close() }
