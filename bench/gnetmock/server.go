// Package gnetmock is an IMAP login responder on gnet, with the engine's
// event-loop settings: greeting, a login accepted whatever the
// credentials, NOOP, LOGOUT. It answers what a proxy cannot go below on
// gnet: the CPU and memory of one side of a login in this reactor, with
// gnet accepting (its fastest path, which stops the whole engine on an
// accept(2) error such as EMFILE) or with Go accepting and gnet's Register
// taking each connection over (the path the engine uses for that reason).
// scripts/bench-peers.sh runs both beside the proxies.
package gnetmock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Config chooses how connections reach the loops.
type Config struct {
	// Loops is the number of event loops (the engine's default: 2 here).
	Loops int
	// Enroll: accept with Go's net package and hand each connection to
	// gnet with Engine.Register, as the engine does; otherwise gnet
	// accepts itself.
	Enroll bool
}

// Server is a running responder.
type Server struct {
	addr   string
	eng    gnet.Engine
	ln     *net.TCPListener // Enroll only
	done   chan error       // gnet.Rotate's result
	logins atomic.Int64
	conns  atomic.Int64
	wg     sync.WaitGroup
	tmp    string
}

type handler struct {
	gnet.BuiltinEventEngine
	s    *Server
	boot chan struct{}
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.s.eng = eng
	close(h.boot)
	return gnet.None
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	h.s.conns.Add(1)
	return []byte(Greeting), gnet.None
}

func (h *handler) OnClose(gnet.Conn, error) gnet.Action {
	h.s.conns.Add(-1)
	return gnet.None
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	in, _ := c.Peek(-1)
	n, out, closeAfter, logins := Respond(in, nil)
	_, _ = c.Discard(n)
	h.s.logins.Add(int64(logins))
	if len(out) > 0 {
		_, _ = c.Write(out)
	}
	if closeAfter {
		return gnet.Close
	}
	return gnet.None
}

// Listen starts a responder on addr (host:port; port 0 picks one).
func Listen(addr string, cfg Config) (*Server, error) {
	if cfg.Loops <= 0 {
		cfg.Loops = 2
	}
	s := &Server{done: make(chan error, 1)}
	h := &handler{s: s, boot: make(chan struct{})}
	gnetAddr := "tcp://" + addr
	if cfg.Enroll {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		s.ln = ln.(*net.TCPListener)
		s.addr = ln.Addr().String()
		// gnet wants a listener of its own; nobody connects to this one.
		if s.tmp, err = os.MkdirTemp("", "gnetmock-"); err != nil {
			_ = ln.Close()
			return nil, err
		}
		gnetAddr = "unix://" + filepath.Join(s.tmp, "unused.sock")
	}
	go func() {
		s.done <- gnet.Run(h, gnetAddr,
			gnet.WithMulticore(true),
			gnet.WithNumEventLoop(cfg.Loops),
			gnet.WithLoadBalancing(gnet.LeastConnections),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithReuseAddr(true),
			gnet.WithLogger(quiet{}),
		)
	}()
	select {
	case <-h.boot:
	case err := <-s.done:
		s.cleanup()
		return nil, fmt.Errorf("gnet: %w", err)
	case <-time.After(10 * time.Second):
		s.cleanup()
		return nil, errors.New("gnet did not start")
	}
	if cfg.Enroll {
		s.wg.Add(1)
		go s.accept()
		return s, nil
	}
	fd, err := s.eng.Dup()
	if err == nil {
		var sa unix.Sockaddr
		if sa, err = unix.Getsockname(fd); err == nil {
			if in4, ok := sa.(*unix.SockaddrInet4); ok {
				s.addr = net.JoinHostPort(net.IP(in4.Addr[:]).String(), fmt.Sprint(in4.Port))
			} else if in6, ok := sa.(*unix.SockaddrInet6); ok {
				s.addr = net.JoinHostPort(net.IP(in6.Addr[:]).String(), fmt.Sprint(in6.Port))
			}
		}
		_ = unix.Close(fd)
	}
	if s.addr == "" {
		_ = s.Close()
		return nil, fmt.Errorf("gnet listener address: %v", err)
	}
	return s, nil
}

// accept is the Enroll mode's acceptor: every connection goes to gnet's
// Register, whose outcome is awaited off the accepting goroutine, as in
// the engine.
func (s *Server) accept() {
	defer s.wg.Done()
	results := make(chan (<-chan gnet.RegisteredResult), 128)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for ch := range results {
			<-ch
		}
	}()
	defer close(results)
	for {
		c, err := s.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ch, err := s.eng.Register(gnet.NewNetConnContext(context.Background(), c))
		if err != nil {
			_ = c.Close()
			continue
		}
		results <- ch
	}
}

// Addr is the listening address (host:port).
func (s *Server) Addr() string { return s.addr }

// Logins is the number of logins accepted so far.
func (s *Server) Logins() int64 { return s.logins.Load() }

// Sessions is the number of connections open now.
func (s *Server) Sessions() int64 { return s.conns.Load() }

// Close stops accepting and closes every connection.
func (s *Server) Close() error {
	if s.ln != nil {
		_ = s.ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.eng.Stop(ctx)
	s.wg.Wait()
	<-s.done
	s.cleanup()
	return err
}

func (s *Server) cleanup() {
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
	}
}

// quiet drops gnet's own log lines (its start-up banner on every run).
type quiet struct{}

func (quiet) Debugf(string, ...any) {}
func (quiet) Infof(string, ...any)  {}
func (quiet) Warnf(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
