package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/engine/sock"
	"github.com/switchyard-mail/switchyard/engine/tlsconn"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
)

// A backend leg belongs to the session that opened it and reports to it
// through session.LegOwner; it never outlives it. Its socket is enrolled on the
// owner's loop, so both are touched by one goroutine. A leg that fails or
// closes is dead: its owner hears of it once, from a loop task (never in
// the middle of another step of the owner), and forgets it.

type legState uint8

const (
	legDialing legState = iota
	legHandshake
	legOpen
	legDead
)

// leg is one backend connection.
type leg struct {
	e     *Engine
	loop  *loop
	owner session.LegOwner
	gc    gnet.Conn // nil until enrolled
	dest  *options.Destination
	dp    options.DestProtocol

	st        legState
	tls       tlsState
	upgrading bool // the running handshake is a STARTTLS upgrade
	in        []byte
	paused    bool
	detached  bool // its socket and TLS state belong to the bridge now
	started   time.Time
	openedAt  time.Time

	// Pooled relay legs (legpool.go).
	parked   bool
	parkedAt time.Time
}

// opened runs in OnOpen for an enrolled backend socket.
func (l *leg) opened(gc gnet.Conn) {
	l.gc = gc
	l.openedAt = time.Now()
	// gnet duplicated the dialed socket and closes the original.
	l.e.fds.Release(fdbudget.Backend, 1)
	if l.st == legDead {
		l.loop.closeConn(gc) // the owner gave up meanwhile
		return
	}
	if l.dp.TLS == options.TLSImplicit {
		l.startHandshake(false)
		return
	}
	l.st = legOpen
	l.owner.LegUp(l)
}

// StartTLS upgrades the leg; the owner hears legTLSUp or legDown.
func (l *leg) StartTLS() {
	if len(l.in) > 0 {
		l.fail(errors.New("backend sent bytes after its STARTTLS go-ahead"))
		return
	}
	l.startHandshake(true)
}

func (l *leg) startHandshake(upgrade bool) {
	gc := l.gc
	l.st = legHandshake
	l.upgrading = upgrade
	l.tls.tr = tlsconn.New(gc.LocalAddr(), gc.RemoteAddr(), func() { _ = gc.Wake(nil) })
	cfg := l.dest.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{ServerName: l.dest.Host}
	}
	l.tls.tc = tls.Client(l.tls.tr, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), l.e.opt.BackendTimeout)
	tc := l.tls.tc
	l.tls.tr.StartHandshake(ctx, func(ctx context.Context) error {
		defer cancel()
		return tc.HandshakeContext(ctx)
	})
}

// traffic handles bytes and wake-ups on the leg.
func (l *leg) traffic(data []byte) {
	if l.parked {
		l.loop.unpark(l) // an idle leg spoke (a timeout notice) or closed
		l.st = legDead
		l.loop.closeConn(l.gc)
		return
	}
	switch l.st {
	case legDead, legDialing:
		return
	case legHandshake:
		l.tls.tr.Feed(data)
		if out := l.tls.tr.TakeOutput(l.loop.out[:0]); len(out) > 0 {
			if _, err := l.gc.Write(out); err != nil {
				l.fail(err)
				return
			}
		}
		done, err := l.tls.tr.HandshakeResult()
		if !done {
			return
		}
		if err != nil {
			l.fail(err)
			return
		}
		if err := l.tls.tr.SetLoopMode(l.gc.Write); err != nil {
			l.fail(err)
			return
		}
		l.tls.active = true
		l.st = legOpen
		if l.upgrading {
			l.owner.LegTLSUp(l)
		} else {
			l.owner.LegUp(l)
		}
		if l.st != legOpen {
			return
		}
		data = nil
	}
	if l.tls.active {
		l.tls.tr.Feed(data)
		for {
			n, err := l.tls.tc.Read(l.loop.tlsBuf)
			l.in = append(l.in, l.loop.tlsBuf[:n]...)
			if err != nil {
				if sock.IsWouldBlock(err) {
					break
				}
				l.fail(err)
				return
			}
		}
	} else {
		l.in = append(l.in, data...)
	}
	if len(l.in)+l.tlsBuffered() > l.e.lim.BackendInputCap {
		l.fail(errors.New("backend sent too much without the client reading it"))
		return
	}
	if l.paused {
		l.loop.setReading(l.gc, false)
		return
	}
	if len(l.in) > 0 {
		l.owner.LegData(l)
	}
}

func (l *leg) tlsBuffered() int {
	if l.tls.tr == nil {
		return 0
	}
	return l.tls.tr.Buffered()
}

// Write sends bytes to the backend. A failure kills the leg (the owner
// hears legDown).
func (l *leg) Write(b []byte) {
	if len(b) == 0 || l.st != legOpen {
		return
	}
	if err := l.tls.send(l.gc, b); err != nil {
		l.fail(err)
		return
	}
	if n := l.gc.OutboundBuffered(); n > l.e.lim.OutputHardCap {
		l.fail(errors.New("backend does not read"))
	} else if l.paused {
		l.loop.setReading(l.gc, false)
	}
}

// Behind and Drained: as for the client (conn.behind).
func (l *leg) Behind() bool {
	return l.gc != nil && l.st != legDead && l.gc.OutboundBuffered() > l.e.lim.OutputSoftCap
}

func (l *leg) Drained() bool {
	return l.gc == nil || l.st == legDead || l.gc.OutboundBuffered() <= l.e.lim.OutputSoftCap/2
}

func (l *leg) Pause() {
	if !l.paused && l.gc != nil && l.st != legDead {
		l.paused = true
		l.loop.setReading(l.gc, false)
	}
}

func (l *leg) Unpause() {
	if l.paused {
		l.paused = false
		if l.gc != nil && l.st != legDead {
			l.loop.setReading(l.gc, true)
		}
	}
}

// fail kills the leg and tells the owner from a loop task.
func (l *leg) fail(err error) {
	if l.st == legDead {
		return
	}
	owner := l.owner
	l.kill()
	if owner != nil {
		l.loop.post(func() { owner.LegDown(l, err) })
	}
}

// Drop is the owner giving the leg up: no legDown follows.
func (l *leg) Drop() {
	l.owner = nil
	l.kill()
}

func (l *leg) kill() {
	l.st = legDead
	l.owner = nil
	l.in = nil
	if l.tls.tr != nil {
		_ = l.tls.tr.Close()
	}
	if l.gc != nil {
		l.loop.closeConn(l.gc)
	}
}

// closed runs from OnClose for the backend socket.
func (l *leg) closed(err error) {
	l.e.fds.Release(fdbudget.Backend, 1)
	if l.parked {
		l.loop.unpark(l)
	}
	if l.st == legDead {
		if l.tls.tr != nil && !l.detached {
			_ = l.tls.tr.Close()
		}
		return
	}
	if err == nil {
		err = errors.New("backend closed the connection")
	}
	l.fail(err)
}

// detach duplicates the leg's socket for the bridge and closes gnet's copy,
// as conn.detach does for the client.
func (l *leg) detach() (int, error) {
	if l.st != legOpen {
		return -1, errors.New("backend leg is not open")
	}
	if l.gc.OutboundBuffered() > 0 {
		_ = l.gc.Flush()
		if l.gc.OutboundBuffered() > 0 {
			return -1, errors.New("backend has not read what was sent")
		}
	}
	if !l.e.fds.TryAcquire(fdbudget.Bridge, 1) {
		return -1, errors.New("descriptor budget exhausted")
	}
	fd, err := l.gc.Dup()
	if err != nil {
		l.e.fds.Release(fdbudget.Bridge, 1)
		return -1, err
	}
	l.st = legDead
	l.detached = true
	l.owner = nil
	l.loop.closeConn(l.gc)
	return fd, nil
}

// The leg as its owner sees it (session.Leg).

func (l *leg) Dest() *options.Destination     { return l.dest }
func (l *leg) Protocol() options.DestProtocol { return l.dp }
func (l *leg) Input() []byte                  { return l.in }
func (l *leg) Open() bool                     { return l.st == legOpen }
func (l *leg) Dead() bool                     { return l.st == legDead }

func (l *leg) Consume(n int) {
	l.in = l.in[n:]
	if len(l.in) == 0 {
		l.in = nil
	}
}
