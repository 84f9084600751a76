//go:build unix

package splice

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/limits"
)

// ptBridge is the portable bridge: a goroutine per direction, blocking in Go's
// netpoller. Buffers are borrowed only while bytes are in flight: a read waits
// for readiness first (RawConn.Read) and takes a buffer only when the
// descriptor has something.
type ptBridge struct {
	cfg       Config
	reg       registry
	bufs      *bufPool
	tlsBufs   *bufPool
	stopSweep chan struct{}
	sweepDone chan struct{}
}

func newPortable(cfg Config) *ptBridge {
	b := &ptBridge{
		cfg:     cfg,
		reg:     newRegistry(),
		bufs:    newBufPool(cfg.CopyBufferSize),
		tlsBufs: newBufPool(max(cfg.CopyBufferSize, limits.TLSBufferSize)),
	}
	if cfg.IdleTimeout > 0 {
		b.stopSweep = make(chan struct{})
		b.sweepDone = make(chan struct{})
		go b.sweep()
	}
	return b
}

// sweep closes idle sessions, once a second, for the whole bridge.
func (b *ptBridge) sweep() {
	defer close(b.sweepDone)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stopSweep:
			return
		case now := <-t.C:
			for _, s := range b.reg.list() {
				ps := s.closer.(*ptSession)
				if now.UnixNano()-ps.last.Load() >= int64(b.cfg.IdleTimeout) {
					ps.close(ReasonIdle)
				}
			}
		}
	}
}

type ptLeg struct {
	conn   net.Conn
	rc     syscall.RawConn
	tls    *tls.Conn
	tr     Transport
	mu     sync.Mutex // serialises the TLS transport between the two goroutines
	client bool
}

type ptSession struct {
	Session
	b               *ptBridge
	onEnd           func(Info, Stats)
	client, backend ptLeg
	last            atomic.Int64 // unix nanoseconds of the last byte moved

	mu          sync.Mutex
	reason      string
	closedFirst string
	running     int
}

func (b *ptBridge) Start(client, backend Leg, info Info, onEnd func(Info, Stats)) (*Session, error) {
	if err := checkLegs(client, backend); err != nil {
		closeLegs(client, backend)
		return nil, err
	}
	s := &ptSession{b: b, onEnd: onEnd, running: 2}
	s.Session.info = info
	s.Session.started = time.Now()
	s.Session.closer = s
	s.last.Store(s.started.UnixNano())
	cc, err := fdConn(client.FD)
	if err != nil {
		unix.Close(backend.FD)
		return nil, err
	}
	bc, err := fdConn(backend.FD)
	if err != nil {
		cc.Close()
		return nil, err
	}
	s.client = ptLeg{conn: cc, tls: client.TLS, tr: client.Transport, client: true}
	s.backend = ptLeg{conn: bc, tls: backend.TLS, tr: backend.Transport}
	for _, leg := range []*ptLeg{&s.client, &s.backend} {
		sc, ok := leg.conn.(syscall.Conn)
		if !ok {
			cc.Close()
			bc.Close()
			return nil, errors.New("splice: descriptor is not a socket")
		}
		leg.rc, err = sc.SyscallConn()
		if err != nil {
			cc.Close()
			bc.Close()
			return nil, err
		}
		if leg.tr != nil {
			_ = leg.rc.Control(func(fd uintptr) { leg.tr.UseFD(int(fd)) })
		}
	}
	if !b.reg.add(&s.Session) {
		cc.Close()
		bc.Close()
		return nil, ErrClosed
	}
	go s.relay(&s.client, &s.backend, backend.Prelude, &s.Session.c2b)
	go s.relay(&s.backend, &s.client, client.Prelude, &s.Session.b2c)
	return &s.Session, nil
}

// fdConn makes a net.Conn of fd (it dups it) and closes fd.
func fdConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "splice-leg")
	c, err := net.FileConn(f)
	f.Close()
	return c, err
}

func (b *ptBridge) Sessions() []*Session { return b.reg.list() }

func (b *ptBridge) Shutdown(ctx context.Context) error {
	err := b.reg.shutdown(ctx)
	if b.stopSweep != nil {
		select {
		case <-b.stopSweep:
		default:
			close(b.stopSweep)
		}
		<-b.sweepDone
	}
	return err
}

func (s *ptSession) close(reason string) {
	s.mu.Lock()
	if s.reason == "" {
		s.reason = reason
	}
	s.mu.Unlock()
	s.client.conn.Close()
	s.backend.conn.Close()
}

// relay copies src to dst until src ends (then half-closes dst) or fails
// (then closes the session).
func (s *ptSession) relay(src, dst *ptLeg, prelude []byte, count *atomic.Int64) {
	defer s.finish()
	if len(prelude) > 0 {
		if err := s.write(dst, prelude, count); err != nil {
			s.close(legError(dst.client, "write", err))
			return
		}
	}
	pool := s.b.bufs
	if src.tls != nil || dst.tls != nil {
		pool = s.b.tlsBufs
	}
	for {
		buf, n, err := s.read(src, pool)
		if n > 0 {
			werr := s.write(dst, (*buf)[:n], count)
			pool.put(buf)
			if werr != nil {
				s.close(legError(dst.client, "write", werr))
				return
			}
		} else if buf != nil {
			pool.put(buf)
		}
		if err == io.EOF {
			s.mu.Lock()
			if s.closedFirst == "" {
				s.closedFirst = ReasonBackendClosed
				if src.client {
					s.closedFirst = ReasonClientClosed
				}
			}
			s.mu.Unlock()
			if err := s.closeWrite(dst); err != nil {
				s.close(legError(dst.client, "write", err))
			}
			return
		}
		if err != nil {
			s.close(legError(src.client, "read", err))
			return
		}
	}
}

// read waits until src has something, then borrows a buffer and reads.
func (s *ptSession) read(src *ptLeg, pool *bufPool) (buf *[]byte, n int, err error) {
	rerr := src.rc.Read(func(fd uintptr) bool {
		b := pool.get()
		if src.tls != nil {
			src.mu.Lock()
			n, err = src.tls.Read(*b)
			src.mu.Unlock()
			if err != nil && isWouldBlock(err) {
				err = nil
				if n == 0 {
					pool.put(b)
					return false
				}
			}
		} else {
			for {
				n, err = unix.Read(int(fd), *b)
				if err != unix.EINTR {
					break
				}
			}
			if err == unix.EAGAIN {
				pool.put(b)
				return false
			}
			if n < 0 {
				n = 0
			}
			if n == 0 && err == nil {
				err = io.EOF
			}
		}
		buf = b
		return true
	})
	if err == nil && rerr != nil {
		err = rerr
	}
	if n > 0 {
		s.last.Store(time.Now().UnixNano())
	}
	return buf, n, err
}

// write delivers p to dst, waiting while dst's socket is full.
func (s *ptSession) write(dst *ptLeg, p []byte, count *atomic.Int64) error {
	if dst.tls == nil {
		n, err := dst.conn.Write(p)
		count.Add(int64(n))
		s.last.Store(time.Now().UnixNano())
		return err
	}
	dst.mu.Lock()
	n, err := dst.tls.Write(p)
	dst.mu.Unlock()
	count.Add(int64(n))
	s.last.Store(time.Now().UnixNano())
	if err != nil {
		return err
	}
	return s.flush(dst)
}

func (s *ptSession) flush(dst *ptLeg) error {
	var err error
	rerr := dst.rc.Write(func(uintptr) bool {
		dst.mu.Lock()
		err = dst.tr.FlushOut()
		dst.mu.Unlock()
		if err != nil && isWouldBlock(err) {
			err = nil
			return false
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	return err
}

// closeWrite propagates the end of a direction to dst.
func (s *ptSession) closeWrite(dst *ptLeg) error {
	if dst.tls != nil {
		dst.mu.Lock()
		_ = dst.tls.CloseWrite()
		dst.mu.Unlock()
		if err := s.flush(dst); err != nil {
			return err
		}
	}
	if cw, ok := dst.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	return nil
}

// finish runs when a direction's goroutine ends; the last one ends the
// session.
func (s *ptSession) finish() {
	s.mu.Lock()
	s.running--
	last := s.running == 0
	reason := s.reason
	if reason == "" {
		reason = s.closedFirst
	}
	s.mu.Unlock()
	if !last {
		return
	}
	s.client.conn.Close()
	s.backend.conn.Close()
	if s.onEnd != nil {
		c2b, b2c := s.Bytes()
		s.onEnd(s.info, Stats{ClientToBackend: c2b, BackendToClient: b2c, Reason: reason, Duration: time.Since(s.started)})
	}
	s.b.reg.remove(&s.Session)
}
