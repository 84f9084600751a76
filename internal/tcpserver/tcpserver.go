// Package tcpserver is the listener under the in-process servers (the
// bench's mock backends, the demo's backends): accept, one goroutine per
// connection, and a Close that stops accepting, closes every connection
// and waits for their goroutines.
package tcpserver

import (
	"errors"
	"net"
	"sync"
	"time"
)

// Server accepts connections and hands each to serve on its own
// goroutine; the connection is closed when serve returns. The zero value
// is ready to Listen, once; a server embeds it, so that its connections'
// goroutines may use it (Done) without a race with Listen's return.
type Server struct {
	ln    net.Listener
	serve func(net.Conn)
	done  chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	peak   int
	closed bool
}

// Listen starts accepting on addr ("127.0.0.1:0" picks a port).
func (s *Server) Listen(addr string, serve func(net.Conn)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln, s.serve, s.done, s.conns = ln, serve, make(chan struct{}), map[net.Conn]struct{}{}
	s.wg.Add(1)
	go s.accept()
	return nil
}

// Addr is the listening address (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Done is closed when Close begins: a connection's goroutine waiting on
// something else gives up at once.
func (s *Server) Done() <-chan struct{} { return s.done }

// Open is the number of connections open now.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Peak is the most connections that were open at once.
func (s *Server) Peak() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Close stops accepting, closes every connection and waits for their
// goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	err := s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	backoff := time.Millisecond
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off briefly and retry.
			time.Sleep(backoff)
			backoff = min(2*backoff, 100*time.Millisecond)
			continue
		}
		backoff = time.Millisecond
		s.mu.Lock()
		if s.closed {
			// Accepted just as Close ran: its loop has passed already.
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.peak = max(s.peak, len(s.conns))
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(c)
	}
}

func (s *Server) handle(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
		s.wg.Done()
	}()
	s.serve(c)
}
