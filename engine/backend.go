package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/engine/tlsconn"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
)

// backendConn is the backend leg while the login is replayed. It lives on
// the client's event loop (Enroll on the client's loop), so both legs are
// touched by one goroutine and need no locks.
type backendConn struct {
	cc      *clientConn
	attempt uint32
	dest    *Destination
	dp      DestProtocol
	c       gnet.Conn // nil until enrolled
	proto   protocols.BackEnd

	in        []byte
	tlsT      *tlsconn.Conn
	tc        *tls.Conn
	tlsActive bool
	startTLS  bool // the running handshake is a STARTTLS upgrade
	handshake bool
	detached  bool
	dropped   bool
	started   time.Time
	openedAt  time.Time
	// pendingLeg: a relay leg with implicit TLS, announced to the machine
	// once the handshake is done.
	pendingLeg *protocols.BackendLeg

	loop     *loopState // the loop the socket is enrolled on
	parked   bool       // idle in loop.idleLegs (legpool.go)
	parkedAt time.Time
}

// goBounded runs fn on a short-lived goroutine, at most MaxDials at once.
// A full budget is an overload: the caller tempfails instead of queueing.
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

// dial connects to the destination off the loop, sends a PROXY header when
// configured, and enrolls the socket on the client's loop; OnOpen continues.
func (cc *clientConn) dial(dest *Destination, dp DestProtocol) gnet.Action {
	e := cc.e
	if !e.fdBudgetOK(1) {
		e.log.Warn("backend dial refused: descriptor budget", "destination", dest.ID)
		return cc.backendUnavailable()
	}
	bc := &backendConn{cc: cc, attempt: cc.attempt, dest: dest, dp: dp, started: time.Now(), loop: cc.loop}
	cc.back = bc
	addr := net.JoinHostPort(dest.Host, strconv.Itoa(dp.Port))
	sendProxy := dp.Forwarding == ForwardProxy
	info := cc.fwd
	el := cc.loop.el
	timeout := e.opt.BackendTimeout
	ok := e.goBounded(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		t0 := time.Now()
		d := net.Dialer{}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil && sendProxy {
			var hdr []byte
			if hdr, err = forward.ProxyV2Header(info); err == nil {
				_ = conn.SetWriteDeadline(time.Now().Add(timeout))
				_, err = conn.Write(hdr)
				_ = conn.SetWriteDeadline(time.Time{})
			}
		}
		if err == nil {
			var ch <-chan gnet.RegisteredResult
			// Enroll dups the socket into the loop and closes conn; OnOpen
			// runs on the client's loop with bc as the context.
			if ch, err = el.Enroll(gnet.NewContext(context.Background(), bc), conn); err == nil {
				if res := <-ch; res.Err != nil {
					err = res.Err
				}
			} else {
				_ = conn.Close()
			}
		}
		e.opt.Observer.Dial(dest.ID, time.Since(t0), err)
		if err != nil {
			cc.post(func() gnet.Action {
				if cc.back != bc {
					return gnet.None
				}
				e.log.Warn("backend unreachable", "destination", dest.ID, "addr", addr, "err", err)
				e.healthFailure(dest, cc.ls.Protocol)
				if cc.rel != nil {
					cc.back = nil
					cc.legDownPending = true
					return cc.legDown()
				}
				return cc.loginFailed(protocols.FailUnavailable, nil)
			})
		}
	})
	if !ok {
		cc.back = nil
		e.log.Warn("backend dial refused: too many dials in flight", "destination", dest.ID)
		return cc.backendUnavailable()
	}
	return gnet.None
}

// backendUnavailable handles a dial refused before it started: a failed
// login, or for a relayed session a BackendDown delivered from the loop.
func (cc *clientConn) backendUnavailable() gnet.Action {
	if cc.rel != nil {
		cc.legDownPending = true
		cc.post(cc.legDown)
		return gnet.None
	}
	return cc.loginFailed(protocols.FailUnavailable, nil)
}

// opened runs in OnOpen for an enrolled backend socket.
func (bc *backendConn) opened(c gnet.Conn) gnet.Action {
	cc := bc.cc
	cc.e.fdsInUse.Add(1)
	bc.c = c
	bc.openedAt = time.Now()
	if cc.rel != nil {
		return bc.relayOpened()
	}
	if cc.back != bc || cc.state != stBackend || cc.attempt != bc.attempt {
		bc.dropped = true // the client gave up or timed out meanwhile
		return gnet.Close
	}
	var fwd *forward.Info
	if bc.dp.Forwarding == ForwardXClient {
		f := cc.fwd
		fwd = &f
	}
	bc.proto = cc.ls.driver.NewBackEnd(cc.login, bc.dest, bc.dp.TLS == TLSStartTLS, fwd)
	if bc.dp.TLS == TLSImplicit {
		bc.startHandshake(false)
	}
	return gnet.None
}

func (bc *backendConn) startHandshake(starttls bool) {
	c := bc.c
	bc.handshake, bc.startTLS = true, starttls
	bc.tlsT = tlsconn.New(c.LocalAddr(), c.RemoteAddr(), func() { _ = c.Wake(nil) })
	cfg := bc.dest.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{ServerName: bc.dest.Host}
	}
	bc.tc = tls.Client(bc.tlsT, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), bc.cc.e.opt.BackendTimeout)
	bc.tlsT.StartHandshake(ctx, func(ctx context.Context) error {
		defer cancel()
		return bc.tc.HandshakeContext(ctx)
	})
}

// traffic handles bytes and wake-ups on the backend leg.
func (bc *backendConn) traffic(data []byte) gnet.Action {
	cc := bc.cc
	if bc.parked {
		return bc.parkedTraffic()
	}
	if bc.dropped || bc.detached || (bc.proto == nil && cc.rel == nil) {
		return gnet.None
	}
	if bc.handshake {
		bc.tlsT.Feed(data)
		if out := bc.tlsT.TakeOutput(cc.loop.out[:0]); len(out) > 0 {
			if _, err := bc.c.Write(out); err != nil {
				return bc.fail(err)
			}
		}
		done, err := bc.tlsT.HandshakeResult()
		if !done {
			return gnet.None
		}
		bc.handshake = false
		if err != nil {
			return bc.fail(err)
		}
		if err := bc.tlsT.SetLoopMode(bc.c.Write); err != nil {
			return bc.fail(err)
		}
		bc.tlsActive = true
		if leg := bc.pendingLeg; leg != nil {
			bc.pendingLeg = nil
			bc.relayConnected(*leg)
			if cc.back != bc || bc.dropped {
				return gnet.None
			}
		} else if bc.startTLS && cc.rel != nil {
			o := cc.loop.relayOut()
			if cc.relayStep(cc.rel.BackendTLSStarted(o), o) || cc.pumpRelay() {
				cc.closeNow()
				return gnet.None
			}
		} else if bc.startTLS {
			if a := bc.write(bc.proto.TLSStarted(cc.loop.out[:0])); a != gnet.None {
				return a
			}
		}
		data = nil
	}
	if bc.tlsActive {
		bc.tlsT.Feed(data)
		for {
			n, err := bc.tc.Read(cc.loop.tlsBuf)
			bc.in = append(bc.in, cc.loop.tlsBuf[:n]...)
			if err != nil {
				if isWouldBlock(err) {
					break
				}
				return bc.fail(err)
			}
		}
	} else if len(bc.in) == 0 {
		// As for the client: feed gnet's buffer, keep a copy of the rest.
		bc.in = data
		a := bc.process()
		if len(bc.in) > 0 && !bc.detached {
			bc.in = append([]byte(nil), bc.in...)
		}
		return a
	} else {
		bc.in = append(bc.in, data...)
	}
	if len(bc.in) > 1<<20 {
		return bc.fail(errors.New("backend sent too much before the login completed"))
	}
	return bc.process()
}

func (bc *backendConn) process() gnet.Action {
	cc := bc.cc
	if cc.rel != nil {
		return bc.relayProcess()
	}
	for len(bc.in) > 0 {
		n, out, ev := bc.proto.Feed(bc.in, cc.loop.out[:0])
		bc.in = bc.in[n:]
		if a := bc.write(out); a != gnet.None {
			return a
		}
		switch ev {
		case protocols.BackendNone:
			if n == 0 {
				return gnet.None
			}
		case protocols.BackendStartTLS:
			if len(bc.in) > 0 {
				return bc.fail(errors.New("backend sent bytes after its STARTTLS go-ahead"))
			}
			bc.startHandshake(true)
			return gnet.None
		case protocols.BackendAuthOK:
			cc.e.Stats.Logins.Add(1)
			cc.e.opt.Observer.Auth(cc.ls.Protocol, outcomeSuccess)
			cc.e.opt.Observer.BackendAuth(cc.ls.Protocol, bc.dest.ID, time.Since(bc.openedAt))
			cc.e.healthSuccess(bc.dest, cc.ls.Protocol)
			return cc.authenticated(bc)
		case protocols.BackendAuthFailed:
			cc.e.healthSuccess(bc.dest, cc.ls.Protocol) // it answered: it is up
			relay := append([]byte(nil), bc.proto.Relay()...)
			cc.e.log.Info("login refused by backend", "account", cc.account, "destination", bc.dest.ID, "client", cc.fwd.Client)
			if cc.loginFailed(protocols.FailRejected, relay) == gnet.Close {
				cc.closeNow()
			}
			return gnet.Close
		case protocols.BackendFailed:
			return bc.fail(bc.proto.Err())
		}
	}
	bc.in = nil
	return gnet.None
}

func (bc *backendConn) write(out []byte) gnet.Action {
	if len(out) == 0 {
		return gnet.None
	}
	var err error
	if bc.tlsActive {
		_, err = bc.tc.Write(out)
	} else {
		_, err = bc.c.Write(out)
	}
	if err != nil {
		return bc.fail(err)
	}
	return gnet.None
}

// fail ends the backend leg from inside its own callback and tells the
// client the backend is unavailable.
func (bc *backendConn) fail(err error) gnet.Action {
	cc := bc.cc
	if cc.rel != nil {
		bc.dropped = true
		if bc.tlsT != nil {
			_ = bc.tlsT.Close()
		}
		cc.legLost(bc, err)
		return gnet.Close
	}
	if cc.back == bc {
		cc.e.log.Warn("backend failed during login", "destination", bc.dest.ID, "account", cc.account, "err", err)
		cc.e.healthFailure(bc.dest, cc.ls.Protocol)
		if cc.loginFailed(protocols.FailUnavailable, nil) == gnet.Close {
			cc.closeNow()
		}
	}
	bc.dropped = true
	return gnet.Close
}

// drop abandons the backend leg (client gone, timeout, refusal). Safe from
// loop code outside the backend's own callbacks.
func (bc *backendConn) drop() {
	if bc.dropped || bc.detached {
		return
	}
	bc.dropped = true
	if bc.tlsT != nil {
		_ = bc.tlsT.Close()
	}
	if bc.c != nil {
		_ = bc.c.Close() // asynchronous: we may be inside the backend's own callback
	}
}

// closed runs from OnClose for the backend socket.
func (bc *backendConn) closed() {
	cc := bc.cc
	cc.e.fdsInUse.Add(-1)
	if bc.detached {
		return
	}
	if bc.parked {
		bc.loop.unpark(bc)
		bc.dropped = true
	}
	if bc.tlsT != nil {
		_ = bc.tlsT.Close()
	}
	if cc.rel != nil {
		if !bc.dropped {
			bc.dropped = true
			cc.legLost(bc, errors.New("backend closed the connection"))
		}
		return
	}
	if !bc.dropped && cc.back == bc && cc.state == stBackend {
		bc.dropped = true
		cc.e.log.Warn("backend closed during login", "destination", bc.dest.ID, "account", cc.account)
		cc.e.healthFailure(bc.dest, cc.ls.Protocol)
		if cc.loginFailed(protocols.FailUnavailable, nil) == gnet.Close {
			cc.closeNow()
		}
	}
	bc.dropped = true
}

func (e *Engine) healthSuccess(d *Destination, proto string) {
	if e.opt.Health != nil && d != nil {
		e.opt.Health.Success(d.ID, proto)
	}
}

func (e *Engine) healthFailure(d *Destination, proto string) {
	if e.opt.Health != nil && d != nil {
		e.opt.Health.Failure(d.ID, proto)
	}
}
