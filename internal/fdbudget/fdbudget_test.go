package fdbudget

import (
	"context"
	"errors"
	"net"
	"testing"
)

func TestBudgetRefusesPastTheReserve(t *testing.T) {
	b := NewWithLimit(100, 20, 10) // 10 open, 20 kept free: 70 to hand out
	if !b.TryAcquire(Client, 70) {
		t.Fatal("70 descriptors did not fit")
	}
	if b.TryAcquire(Client, 1) {
		t.Fatal("a descriptor past the reserve was handed out")
	}
	if b.Free() != 0 || b.Used() != 80 {
		t.Fatalf("free %d used %d", b.Free(), b.Used())
	}
	b.Release(Client, 70)
	if !b.TryAcquire(Pipe, 2) {
		t.Fatal("released descriptors were not handed out again")
	}
	for _, u := range b.Usage() {
		if u.Kind == "client" && u.Refused != 1 {
			t.Fatalf("refusals of client: %d", u.Refused)
		}
		if u.Kind == "pipe" && u.InUse != 2 {
			t.Fatalf("pipes in use: %d", u.InUse)
		}
	}
}

// Dialed and accepted connections count until they are closed, once.
func TestDialerAndListenerCount(t *testing.T) {
	b := NewWithLimit(1000, 10, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := b.Listener(ln, Admin)
	defer cl.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := cl.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := b.Dialer(Health, &net.Dialer{})(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if b.Used() != 2 {
		t.Fatalf("used %d, want 2", b.Used())
	}
	c.Close()
	c.Close()
	s.Close()
	if b.Used() != 0 {
		t.Fatalf("used %d after closing, want 0", b.Used())
	}
	tight := NewWithLimit(10, 10, 10)
	if _, err := tight.Dialer(Health, &net.Dialer{})(context.Background(), "tcp", ln.Addr().String()); !errors.Is(err, ErrExhausted) {
		t.Fatalf("dial past the budget: %v", err)
	}
}
