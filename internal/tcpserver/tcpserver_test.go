package tcpserver

import (
	"bufio"
	"net"
	"testing"
	"time"
)

func TestServeAndClose(t *testing.T) {
	started := make(chan struct{}, 2)
	var s Server
	err := s.Listen("127.0.0.1:0", func(c net.Conn) {
		started <- struct{}{}
		_, _ = bufio.NewReader(c).ReadString('\n') // until Close closes c
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		<-started
	}
	if s.Open() != 2 || s.Peak() != 2 {
		t.Fatalf("open %d, peak %d: want 2, 2", s.Open(), s.Peak())
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: a connection's goroutine is still running")
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done is open after Close")
	}
	if s.Open() != 0 || s.Peak() != 2 {
		t.Fatalf("after Close: open %d, peak %d", s.Open(), s.Peak())
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
