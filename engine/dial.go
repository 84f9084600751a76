package engine

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/engine/gate"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/protocols/forward"
)

var (
	errDialBudget = gate.ErrBusy
	errFDBudget   = errors.New("descriptor budget exhausted")
)

// goBounded runs fn on a short-lived goroutine, at most MaxDials at once.
// A full budget is an overload: the caller fails fast instead of queueing.
func (e *Engine) goBounded(fn func()) bool {
	if e.dials.Add(1) > int64(e.opt.MaxDials) {
		e.dials.Add(-1)
		return false
	}
	go func() {
		defer e.dials.Add(-1)
		fn()
	}()
	return true
}

// dial opens a leg to dest for owner, on owner's loop: the connect (and a
// PROXY v2 header announcing fwd, when the destination takes one) runs on a
// bounded goroutine, then the socket is enrolled on the loop, where OnOpen
// continues (leg.opened). A dial that cannot start fails the leg through
// the owner's LegDown, like any other failure.
func (e *Engine) dial(lp *loop, owner session.LegOwner, dest *options.Destination, dp options.DestProtocol, fwd forward.Info) *leg {
	l := &leg{e: e, loop: lp, owner: owner, dest: dest, dp: dp, started: time.Now()}
	// The socket, and gnet's copy while it is enrolled.
	if !e.fds.TryAcquire(fdbudget.Backend, 2) {
		e.refusal("fd_budget")
		l.fail(errFDBudget)
		return l
	}
	addr := net.JoinHostPort(dest.Host, strconv.Itoa(dp.Port))
	sendProxy := dp.Forwarding == options.ForwardProxy
	timeout := e.opt.BackendTimeout
	ok := e.goBounded(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		t0 := time.Now()
		conn, err := e.dialer.Dial(ctx, dest, dp.Port)
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
			if ch, err = lp.el.Enroll(gnet.NewContext(context.Background(), l), conn); err == nil {
				if res := <-ch; res.Err != nil {
					err = res.Err
				}
			} else {
				_ = conn.Close()
			}
		} else if conn != nil {
			_ = conn.Close()
		}
		e.opt.Observer.Dial(dest.ID, time.Since(t0), err)
		if err != nil {
			e.fds.Release(fdbudget.Backend, 2)
			lp.post(func() {
				e.log.Warn("backend unreachable", "destination", dest.ID, "addr", addr, "err", err)
				l.fail(session.DialError{Err: err})
			})
		}
	})
	if !ok {
		e.fds.Release(fdbudget.Backend, 2)
		e.refusal("dial_budget")
		l.fail(errDialBudget)
	}
	return l
}
