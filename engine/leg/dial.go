package leg

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/engine/backend"
	"github.com/switchyard-mail/switchyard/engine/gate"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/protocols/forward"
)

// Loop is the event loop a leg lives on: the engine's, which hands the
// leg's gnet events to Opened, Traffic and Closed. Only that loop's
// goroutine touches a leg.
type Loop interface {
	// Post runs fn on the loop as a task (never nested in a callback).
	Post(fn func()) bool
	// CloseConn closes gc from loop code.
	CloseConn(gc gnet.Conn)
	// SetReading turns reading gc on or off (backpressure).
	SetReading(gc gnet.Conn, on bool)
	// Out and TLSBuf are the loop's scratch buffers (Out has length 0).
	Out() []byte
	TLSBuf() []byte
	// Enroll hands a dialed socket to the loop (gnet duplicates it).
	Enroll(ctx context.Context, c net.Conn) (<-chan gnet.RegisteredResult, error)
	// Pool is the loop's idle legs.
	Pool() *Pool
}

// Env is what every leg shares: the engine's budget, limits and pool.
type Env struct {
	FDs      *fdbudget.Budget
	Limits   *options.Limits
	Timeout  time.Duration // a dial, or a TLS handshake, at the most
	Observer options.Observer
	Dialer   *backend.Dialer
	// Spawn runs fn on the engine's bounded pool; false when it is full.
	Spawn   func(fn func()) bool
	Refusal func(reason string)
	Log     *slog.Logger
}

// Dial opens a leg to dest for owner, on owner's loop: the connect (and a
// PROXY v2 header announcing fwd, when the destination takes one) runs on
// the bounded pool, then the socket is enrolled on the loop, where OnOpen
// continues (Opened). A dial that cannot start fails the leg through the
// owner's LegDown, like any other failure.
func Dial(env *Env, lp Loop, owner session.LegOwner, dest *options.Destination, dp options.DestProtocol, fwd forward.Info) *Leg {
	e := env
	l := &Leg{env: env, loop: lp, owner: owner, dest: dest, dp: dp, started: time.Now()}
	// The socket, and gnet's copy while it is enrolled.
	if !e.FDs.TryAcquire(fdbudget.Backend, 2) {
		e.Refusal("fd_budget")
		l.fail(fdbudget.ErrExhausted)
		return l
	}
	addr := net.JoinHostPort(dest.Host, strconv.Itoa(dp.Port))
	sendProxy := dp.Forwarding == options.ForwardProxy
	timeout := e.Timeout
	ok := e.Spawn(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		t0 := time.Now()
		conn, err := e.Dialer.Dial(ctx, dest, dp.Port)
		if err == nil && sendProxy {
			var hdr []byte
			if hdr, err = forward.ProxyV2Header(fwd); err == nil {
				_ = conn.SetWriteDeadline(time.Now().Add(timeout))
				_, err = conn.Write(hdr)
				_ = conn.SetWriteDeadline(time.Time{})
			}
		}
		if err == nil {
			var ch <-chan gnet.RegisteredResult
			// Enroll duplicates the socket into the loop and closes conn;
			// OnOpen runs on the owner's loop with the leg as context.
			if ch, err = lp.Enroll(gnet.NewContext(context.Background(), l), conn); err == nil {
				if res := <-ch; res.Err != nil {
					err = res.Err
				}
			} else {
				_ = conn.Close()
			}
		} else if conn != nil {
			_ = conn.Close()
		}
		e.Observer.Dial(dest.ID, time.Since(t0), err)
		if err != nil {
			e.FDs.Release(fdbudget.Backend, 2)
			lp.Post(func() {
				e.Log.Warn("backend unreachable", "destination", dest.ID, "addr", addr, "err", err)
				l.fail(session.DialError{Err: err})
			})
		}
	})
	if !ok {
		e.FDs.Release(fdbudget.Backend, 2)
		e.Refusal("dial_budget")
		l.fail(gate.ErrBusy)
	}
	return l
}
