// Package tlsconn is the transport under a crypto/tls connection that an
// event loop drives. crypto/tls cannot resume a handshake after a "would
// block" error, so the handshake runs in a goroutine that lives only for the
// handshake, reading what the loop feeds it and leaving its output for the
// loop to write. Afterwards the record layer does resume after a temporary
// error (measured in ../shared/research/feasibility.md), so post-handshake
// reads and writes happen on the loop (loop mode) or, once the session is
// bridged, straight on the socket (fd mode).
package tlsconn

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tlsconn: would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// ErrWouldBlock is returned by Read when no bytes are available. It is a
// net.Error whose Temporary() is true, which crypto/tls does not latch.
var ErrWouldBlock net.Error = wouldBlock{}

// ErrClosed is returned once the transport was closed.
var ErrClosed = errors.New("tlsconn: closed")

type mode uint8

const (
	modeHandshake mode = iota
	modeLoop
	modeFD
	modeStream
)

// Conn implements net.Conn for crypto/tls. It is not a general-purpose
// connection: which goroutine may call what depends on the mode.
type Conn struct {
	local, remote net.Addr

	mu     sync.Mutex
	mode   mode
	closed bool
	in     []byte        // ciphertext received but not yet read by crypto/tls
	out    []byte        // handshake mode: output for the loop; fd mode: pending writes
	outOff int           // fd mode: bytes of out already written
	ready  chan struct{} // handshake mode: signalled when in grows or on close
	notify func()        // handshake mode: asks the loop to come and flush

	loopWrite func([]byte) (int, error) // loop mode
	fd        int                       // fd mode
	stream    net.Conn                  // stream mode

	hsDone bool // the handshake goroutine has returned
	hsErr  error
	corked bool // fd mode: gather writes until Uncork
}

// Cork makes fd-mode writes gather in the pending buffer until Uncork, so a
// burst of TLS records leaves in one write(2).
func (c *Conn) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork writes what Cork gathered (as much as the socket takes; the rest
// stays pending for FlushOut).
func (c *Conn) Uncork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if c.mode == modeFD {
		_ = c.flushLocked()
	}
}

// StartHandshake runs handshake (tls.Conn.HandshakeContext) in a goroutine
// that lives only for the handshake, then records the result and calls
// notify so the loop can switch modes.
func (c *Conn) StartHandshake(ctx context.Context, handshake func(context.Context) error) {
	go func() {
		err := handshake(ctx)
		c.mu.Lock()
		c.hsDone, c.hsErr = true, err
		notify := c.notify
		c.mu.Unlock()
		if notify != nil {
			notify()
		}
	}()
}

// HandshakeResult reports whether the handshake goroutine has finished and
// with what error.
func (c *Conn) HandshakeResult() (done bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hsDone, c.hsErr
}

// New returns a transport in handshake mode. notify is called from the
// handshake goroutine whenever it has produced output or finished; it must
// be safe from any goroutine (gnet's Conn.Wake is).
func New(local, remote net.Addr, notify func()) *Conn {
	return &Conn{local: local, remote: remote, notify: notify, ready: make(chan struct{}, 1), fd: -1}
}

// Feed hands ciphertext received by the loop to the transport (handshake
// and loop modes). The slice is copied.
func (c *Conn) Feed(p []byte) {
	if len(p) == 0 {
		return
	}
	c.mu.Lock()
	c.in = append(c.in, p...)
	c.mu.Unlock()
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// Buffered reports how many received bytes crypto/tls has not read yet.
func (c *Conn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.in)
}

// TakeOutput appends the handshake's pending output to dst and clears it.
func (c *Conn) TakeOutput(dst []byte) []byte {
	c.mu.Lock()
	dst = append(dst, c.out...)
	c.out = c.out[:0]
	c.mu.Unlock()
	return dst
}

// NewStream returns a transport in stream mode: reads and writes go to
// conn and block there (a goroutine that replays a login drives it). The
// handshake runs on the caller's goroutine (tls.Conn.HandshakeContext), and
// UseFD moves the session to a bridge afterwards; conn has no buffer of its
// own, so nothing read is left behind in it.
func NewStream(conn net.Conn) *Conn {
	return &Conn{local: conn.LocalAddr(), remote: conn.RemoteAddr(), mode: modeStream, stream: conn,
		hsDone: true, ready: make(chan struct{}, 1), fd: -1}
}

// SetLoopMode switches from handshake mode to loop mode. write is the loop's
// writer (gnet Conn.Write); any handshake output not yet taken is written
// first.
func (c *Conn) SetLoopMode(write func([]byte) (int, error)) error {
	c.mu.Lock()
	pending := c.out
	c.out = nil
	if len(c.in) == 0 {
		// The handshake's read buffer (a ClientHello with a post-quantum
		// key share is near 2 KB) is not kept by an idle connection.
		c.in = nil
	}
	c.mode = modeLoop
	c.loopWrite = write
	c.mu.Unlock()
	if len(pending) > 0 {
		if _, err := write(pending); err != nil {
			return err
		}
	}
	return nil
}

// UseFD switches to fd mode: reads come from the bytes still buffered and
// then from fd; writes go to fd, and what the socket refuses is kept until
// FlushOut. fd must be non-blocking. The transport does not own fd.
func (c *Conn) UseFD(fd int) {
	c.mu.Lock()
	c.mode = modeFD
	c.fd = fd
	c.loopWrite = nil
	c.stream = nil
	c.mu.Unlock()
}

// PendingOut is the number of bytes written but not yet accepted by the
// socket (fd mode).
func (c *Conn) PendingOut() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mode != modeFD {
		return 0
	}
	return len(c.out) - c.outOff
}

// FlushOut writes pending bytes (fd mode). It returns ErrWouldBlock when
// some remain.
func (c *Conn) FlushOut() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *Conn) flushLocked() error {
	for c.outOff < len(c.out) {
		n, err := unix.Write(c.fd, c.out[c.outOff:])
		if n > 0 {
			c.outOff += n
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return ErrWouldBlock
		}
		if err != nil {
			return err
		}
	}
	// All written: reuse the buffer (no copying of what remains, no
	// reallocation per burst); a very large one is not kept for an idle
	// session.
	c.out, c.outOff = c.out[:0], 0
	if cap(c.out) > 1<<20 {
		c.out = nil
	}
	return nil
}

// Trim releases the fd-mode write buffer when nothing is pending, so an
// idle session does not keep the buffer of its last burst. The bridge calls
// it for quiet sessions.
func (c *Conn) Trim() {
	c.mu.Lock()
	if c.outOff == len(c.out) {
		c.out, c.outOff = nil, 0
	}
	c.mu.Unlock()
}

// Read is called by crypto/tls.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	for {
		if c.closed {
			c.mu.Unlock()
			return 0, io.EOF
		}
		if len(c.in) > 0 {
			n := copy(p, c.in)
			rest := copy(c.in, c.in[n:])
			c.in = c.in[:rest]
			if rest == 0 && (c.mode != modeHandshake || cap(c.in) > 16<<10) {
				c.in = nil // an idle connection holds no buffer
			}
			c.mu.Unlock()
			return n, nil
		}
		switch c.mode {
		case modeLoop:
			c.mu.Unlock()
			return 0, ErrWouldBlock
		case modeStream:
			s := c.stream
			c.mu.Unlock()
			return s.Read(p)
		case modeFD:
			fd := c.fd
			c.mu.Unlock()
			for {
				n, err := unix.Read(fd, p)
				switch {
				case err == unix.EINTR:
					continue
				case err == unix.EAGAIN:
					return 0, ErrWouldBlock
				case err != nil:
					return 0, err
				case n == 0:
					return 0, io.EOF
				}
				return n, nil
			}
		}
		// Handshake mode: wait for the loop to feed us.
		c.mu.Unlock()
		<-c.ready
		c.mu.Lock()
	}
}

// Write is called by crypto/tls.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	switch c.mode {
	case modeLoop:
		w := c.loopWrite
		c.mu.Unlock()
		return w(p)
	case modeStream:
		s := c.stream
		c.mu.Unlock()
		return s.Write(p)
	case modeFD:
		defer c.mu.Unlock()
		total := len(p)
		if len(c.out) == c.outOff && !c.corked {
			for {
				n, err := unix.Write(c.fd, p)
				if err == unix.EINTR {
					continue
				}
				if n > 0 {
					p = p[n:]
				}
				if err == nil || err == unix.EAGAIN {
					break
				}
				return 0, err
			}
			if len(p) == 0 {
				return total, nil
			}
		}
		if c.outOff == len(c.out) {
			c.out, c.outOff = c.out[:0], 0
		} else if c.outOff > len(c.out)/2 {
			n := copy(c.out, c.out[c.outOff:])
			c.out, c.outOff = c.out[:n], 0
		}
		c.out = append(c.out, p...)
		return total, nil
	}
	c.out = append(c.out, p...)
	notify := c.notify
	c.mu.Unlock()
	if notify != nil {
		notify()
	}
	return len(p), nil
}

// Close wakes a blocked handshake Read and makes further I/O fail. It does
// not close any socket: the socket belongs to the loop or the bridge.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	select {
	case c.ready <- struct{}{}:
	default:
	}
	return nil
}

func (c *Conn) LocalAddr() net.Addr  { return c.local }
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// Deadlines apply in stream mode only (the loop and the bridge have their
// own timers).
func (c *Conn) SetDeadline(t time.Time) error {
	if s := c.streamConn(); s != nil {
		return s.SetDeadline(t)
	}
	return nil
}

func (c *Conn) SetReadDeadline(t time.Time) error {
	if s := c.streamConn(); s != nil {
		return s.SetReadDeadline(t)
	}
	return nil
}

func (c *Conn) SetWriteDeadline(t time.Time) error {
	if s := c.streamConn(); s != nil {
		return s.SetWriteDeadline(t)
	}
	return nil
}

func (c *Conn) streamConn() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mode == modeStream {
		return c.stream
	}
	return nil
}
