package leg

import (
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

// Package leg is a relay's backend connection on the client's event loop:
// dialed off the loop on the engine's bounded pool, enrolled on the
// client's loop, TLS (implicit or STARTTLS) in loop mode, its input capped,
// its reading paused for backpressure, kept idle per loop for reuse
// (pool.go), and detached for the bridge at an HTTP upgrade. A leg
// belongs to the session that opened it and reports to it through
// session.LegOwner; it never outlives it. Its socket is enrolled on the
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

// Leg is one backend connection.
type Leg struct {
	env   *Env
	loop  Loop
	owner session.LegOwner
	gc    gnet.Conn // nil until enrolled
	dest  *options.Destination
	dp    options.DestProtocol

	st        legState
	tls       tlsconn.State
	upgrading bool // the running handshake is a STARTTLS upgrade
	in        []byte
	paused    bool
	detached  bool // its socket and TLS state belong to the bridge now
	started   time.Time
	openedAt  time.Time

	// Pooled relay legs (pool.go).
	parked   bool
	parkedAt time.Time
}

// Opened runs in OnOpen for an enrolled backend socket.
func (l *Leg) Opened(gc gnet.Conn) {
	l.gc = gc
	l.openedAt = time.Now()
	// gnet duplicated the dialed socket and closes the original.
	l.env.FDs.Release(fdbudget.Backend, 1)
	if l.st == legDead {
		l.loop.CloseConn(gc) // the owner gave up meanwhile
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
func (l *Leg) StartTLS() {
	if len(l.in) > 0 {
		l.fail(errors.New("backend sent bytes after its STARTTLS go-ahead"))
		return
	}
	l.startHandshake(true)
}

func (l *Leg) startHandshake(upgrade bool) {
	gc := l.gc
	l.st = legHandshake
	l.upgrading = upgrade
	cfg := l.dest.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{ServerName: l.dest.Host}
	}
	l.tls.Start(gc.LocalAddr(), gc.RemoteAddr(), func() { _ = gc.Wake(nil) }, cfg, false, l.env.Timeout)
}

// Traffic handles bytes and wake-ups on the leg.
func (l *Leg) Traffic(data []byte) {
	if l.parked {
		l.loop.Pool().remove(l) // an idle leg spoke (a timeout notice) or closed
		l.st = legDead
		l.loop.CloseConn(l.gc)
		return
	}
	switch l.st {
	case legDead, legDialing:
		return
	case legHandshake:
		l.tls.TR.Feed(data)
		if out := l.tls.TR.TakeOutput(l.loop.Out()); len(out) > 0 {
			if _, err := l.gc.Write(out); err != nil {
				l.fail(err)
				return
			}
		}
		done, err := l.tls.TR.HandshakeResult()
		if !done {
			return
		}
		if err != nil {
			l.fail(err)
			return
		}
		if err := l.tls.Finish(l.gc.Write); err != nil {
			l.fail(err)
			return
		}
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
	if l.tls.Active {
		l.tls.TR.Feed(data)
		for {
			buf := l.loop.TLSBuf()
			n, err := l.tls.TC.Read(buf)
			l.in = append(l.in, buf[:n]...)
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
	if len(l.in)+l.tls.Buffered() > l.env.Limits.BackendInputCap {
		l.fail(errors.New("backend sent too much without the client reading it"))
		return
	}
	if l.paused {
		l.loop.SetReading(l.gc, false)
		return
	}
	if len(l.in) > 0 {
		l.owner.LegData(l)
	}
}

// Write sends bytes to the backend. A failure kills the leg (the owner
// hears legDown).
func (l *Leg) Write(b []byte) {
	if len(b) == 0 || l.st != legOpen {
		return
	}
	if err := l.tls.Send(l.gc, b); err != nil {
		l.fail(err)
		return
	}
	if n := l.gc.OutboundBuffered(); n > l.env.Limits.OutputHardCap {
		l.fail(errors.New("backend does not read"))
	} else if l.paused {
		l.loop.SetReading(l.gc, false)
	}
}

// Behind and Drained: as for the client (conn.behind).
func (l *Leg) Behind() bool {
	return l.gc != nil && l.st != legDead && l.gc.OutboundBuffered() > l.env.Limits.OutputSoftCap
}

func (l *Leg) Drained() bool {
	return l.gc == nil || l.st == legDead || l.gc.OutboundBuffered() <= l.env.Limits.OutputSoftCap/2
}

func (l *Leg) Pause() {
	if !l.paused && l.gc != nil && l.st != legDead {
		l.paused = true
		l.loop.SetReading(l.gc, false)
	}
}

func (l *Leg) Unpause() {
	if l.paused {
		l.paused = false
		if l.gc != nil && l.st != legDead {
			l.loop.SetReading(l.gc, true)
		}
	}
}

// fail kills the leg and tells the owner from a loop task.
func (l *Leg) fail(err error) {
	if l.st == legDead {
		return
	}
	owner := l.owner
	l.kill()
	if owner != nil {
		l.loop.Post(func() { owner.LegDown(l, err) })
	}
}

// Drop is the owner giving the leg up: no legDown follows.
func (l *Leg) Drop() {
	l.owner = nil
	l.kill()
}

func (l *Leg) kill() {
	l.st = legDead
	l.owner = nil
	l.in = nil
	if l.tls.TR != nil {
		_ = l.tls.TR.Close()
	}
	if l.gc != nil {
		l.loop.CloseConn(l.gc)
	}
}

// Closed runs from OnClose for the backend socket.
func (l *Leg) Closed(err error) {
	l.env.FDs.Release(fdbudget.Backend, 1)
	if l.parked {
		l.loop.Pool().remove(l)
	}
	if l.st == legDead {
		if l.tls.TR != nil && !l.detached {
			_ = l.tls.TR.Close()
		}
		return
	}
	if err == nil {
		err = errors.New("backend closed the connection")
	}
	l.fail(err)
}

// Detached is a leg's socket handed to a new owner (the bridge).
type Detached struct {
	FD  int
	TLS *tlsconn.State // nil when plain
	// Unread is what the backend sent that the owner did not consume.
	Unread []byte
}

// Detach duplicates the leg's socket for the bridge and closes gnet's
// copy, as the client connection's detach does. The leg is dead after.
func (l *Leg) Detach() (Detached, error) {
	if l.st != legOpen {
		return Detached{}, errors.New("backend leg is not open")
	}
	if l.gc.OutboundBuffered() > 0 {
		_ = l.gc.Flush()
		if l.gc.OutboundBuffered() > 0 {
			return Detached{}, errors.New("backend has not read what was sent")
		}
	}
	if !l.env.FDs.TryAcquire(fdbudget.Bridge, 1) {
		return Detached{}, fdbudget.ErrExhausted
	}
	fd, err := l.gc.Dup()
	if err != nil {
		l.env.FDs.Release(fdbudget.Bridge, 1)
		return Detached{}, err
	}
	d := Detached{FD: fd, Unread: l.in}
	if l.tls.Active {
		d.TLS = &l.tls
	}
	l.in = nil
	l.st = legDead
	l.detached = true
	l.owner = nil
	l.loop.CloseConn(l.gc)
	return d, nil
}

// Loop is the loop the leg lives on.
func (l *Leg) Loop() Loop { return l.loop }

// The leg as its owner sees it (session.Leg).

func (l *Leg) Dest() *options.Destination     { return l.dest }
func (l *Leg) Protocol() options.DestProtocol { return l.dp }
func (l *Leg) Input() []byte                  { return l.in }
func (l *Leg) Open() bool                     { return l.st == legOpen }
func (l *Leg) Dead() bool                     { return l.st == legDead }

func (l *Leg) Consume(n int) {
	l.in = l.in[n:]
	if len(l.in) == 0 {
		l.in = nil
	}
}
