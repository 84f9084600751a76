package engine

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/engine/accept"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/engine/sock"
	"github.com/switchyard-mail/switchyard/engine/tlsconn"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/protocols/forward"
)

// A client connection is a transport (conn: descriptor, PROXY header, TLS,
// input, deadline, output with its caps, close) carrying exactly one
// session (session.Kind), chosen at accept by the listener's kind: login
// or pass-through (engine/login), relay (engine/relay). The transport owns the gnet
// connection; a session reaches the socket only through it.

// phase is the transport's state.
type phase uint8

const (
	phProxy     phase = iota // waiting for the inbound PROXY header
	phHello                  // TLS: waiting for the first byte of the ClientHello
	phHandshake              // TLS handshake running
	phOpen                   // the session runs
	phGone                   // closed, or handed to the bridge or HTTP/2
)

// conn is one accepted client connection. It is touched only on its loop.
type conn struct {
	e        *Engine
	ls       *listenerState
	loop     *loop
	gc       gnet.Conn
	id       uint64
	client   netip.AddrPort // the client (after a trusted PROXY header)
	local    netip.AddrPort // the address it connected to
	accepted int64          // unix nanoseconds (the admin API's start time)
	deadline time.Time      // absolute; the phase's or the session's

	// The small fields sit together: an idle connection is 256 bytes,
	// not 288, which counts at tens of thousands of them.
	phase     phase
	upgrading bool // the TLS phases are a STARTTLS upgrade
	paused    bool
	closing   bool // close was asked: OnClose follows
	detached  bool // the socket was duplicated for the bridge or HTTP/2
	hsSlot    bool // holds a handshake admission
	tls       tlsconn.State
	in        []byte // plaintext not consumed by the session

	slot accept.Slot // held until the client is gone (handOff moves it)
	sess session.Kind
}

// openClient runs in OnOpen for an accepted client.
func (e *Engine) openClient(l *loop, gc gnet.Conn, acc *accept.Accepted) {
	ls := acc.Listener.Owner.(*listenerState)
	c := &conn{
		e: e, ls: ls, loop: l, gc: gc,
		id:       e.nextID.Add(1),
		accepted: acc.At.UnixNano(),
		slot:     acc.Slot,
	}
	c.client, c.local = acc.Remote, acc.Local
	gc.SetContext(c)
	l.conns[c] = struct{}{}
	l.nconns.Add(1)
	e.opt.Observer.ConnAccepted(ls.ID, ls.Protocol)
	c.sess = ls.newSession(c)
	if ls.ProxyProtocol != options.ProxyOff {
		if sock.Trusted(ls.ProxyTrusted, acc.Remote.Addr()) {
			c.phase = phProxy
			wait := ls.PreauthTimeout
			if ls.ProxyProtocol == options.ProxyOptional {
				wait = min(wait, e.lim.ProxyHeaderTimeout) // a load balancer sends it at once
			}
			c.deadline = acc.At.Add(wait)
			return
		}
		if ls.ProxyProtocol == options.ProxyRequired {
			e.logLimited("proxy-untrusted", "connection refused: PROXY header required from an untrusted address", "listener", ls.ID, "client", c.client)
			e.refusal("proxy_header")
			e.opt.Observer.ConnRefused(ls.ID, ls.Protocol, "proxy_header")
			c.Close()
			return
		}
	}
	c.ready()
}

// ready starts TLS or the session once the client's address is known.
func (c *conn) ready() {
	if c.ls.TLS == options.TLSImplicit {
		c.awaitHello(false)
		return
	}
	c.phase = phOpen
	c.sess.Begin()
}

// traffic handles readable bytes (and wake-ups, with no bytes).
func (c *conn) traffic(data []byte) {
	if c.closing {
		return
	}
	switch c.phase {
	case phGone:
		return
	case phProxy:
		c.proxyHeader(data)
		return
	case phHello:
		if len(data) > 0 {
			c.startHandshake(data)
		}
		return
	case phHandshake:
		c.tls.TR.Feed(data)
		c.pumpHandshake()
		return
	}
	if c.tls.Active {
		c.tls.TR.Feed(data)
		if !c.readTLS() {
			return
		}
	} else if len(data) > 0 {
		if len(c.in) == 0 && !c.paused {
			// The usual case: whole commands in one read. The session
			// reads gnet's buffer as it is; what it leaves is copied (the
			// buffer is gnet's again once this callback returns).
			c.in = data
			c.sess.Input()
			if len(c.in) > 0 && c.phase != phGone {
				c.in = append([]byte(nil), c.in...)
			} else {
				c.in = nil
			}
			c.checkInputCap()
			return
		}
		c.in = append(c.in, data...)
	}
	if !c.checkInputCap() {
		return
	}
	if c.paused {
		c.loop.SetReading(c.gc, false) // gnet turned reading on again
		return
	}
	c.sess.Input()
}

// inputCap is what the connection may hold unconsumed.
func (c *conn) inputCap() int {
	if c.ls.Relay {
		return c.e.lim.RelayInputCap
	}
	return c.e.lim.PreauthInputCap
}

// checkInputCap closes a connection holding more unconsumed input than its
// cap (a client that pipelines without reading, past backpressure).
func (c *conn) checkInputCap() bool {
	n := len(c.in) + c.tls.Buffered()
	if n <= c.inputCap() {
		return true
	}
	c.e.refusal("input_cap")
	c.e.logLimited("input_cap", "client sent too much without reading the replies: closed", "client", c.client, "listener", c.ls.ID, "buffered", n)
	c.Close()
	return false
}

func (c *conn) proxyHeader(data []byte) {
	// Until the header is whole, c.in holds its bytes.
	c.in = append(c.in, data...)
	n, err := forward.ProxyHeaderLen(c.in)
	switch {
	case errors.Is(err, forward.ErrNoProxyHeader) && c.ls.ProxyProtocol == options.ProxyOptional:
		c.proxyDone(0) // not a header: these are protocol bytes
	case err != nil:
		c.e.log.Warn("bad PROXY header", "client", c.client, "err", err)
		c.e.refusal("proxy_header")
		c.Close()
	case n > 0:
		src, dst, ok, err := forward.ParseProxyHeader(c.in[:n])
		if err != nil {
			c.e.log.Warn("bad PROXY header", "client", c.client, "err", err)
			c.e.refusal("proxy_header")
			c.Close()
			return
		}
		if ok {
			c.client, c.local = src, dst
		}
		c.proxyDone(n)
	}
}

// proxyDone starts the connection after n bytes of PROXY header (0: none
// came, on a listener where it is optional).
func (c *conn) proxyDone(n int) {
	if !c.slot.TakeAddr(c.client.Addr()) {
		c.e.opt.Observer.ConnRefused(c.ls.ID, c.ls.Protocol, "per_address")
		c.e.refusal("per_address")
		c.e.logLimited("refuse-per_address", "connection refused", "listener", c.ls.ID, "client", c.client, "reason", "per_address")
		if c.ls.TLS != options.TLSImplicit {
			c.Write(c.ls.acc.Busy)
		}
		c.Close()
		return
	}
	rest := c.in[n:]
	c.in = nil
	c.ready()
	if len(rest) > 0 && c.phase != phGone {
		c.traffic(rest)
	}
}

// awaitHello waits for a TLS client's first byte: an idle socket holds no
// handshake slot and is closed after the short FirstByteTimeout.
func (c *conn) awaitHello(upgrade bool) {
	c.phase = phHello
	c.upgrading = upgrade
	c.deadline = time.Now().Add(c.e.lim.FirstByteTimeout)
}

// StartTLS upgrades the connection (the session wrote its go-ahead).
// Bytes the client sent after the command were sent before it could know
// TLS was on: they are injection (the CVE-2021-33515 class) and dropped.
func (c *conn) StartTLS() {
	c.in = nil
	c.awaitHello(true)
}

// startHandshake admits the handshake and starts it on its goroutine.
func (c *conn) startHandshake(first []byte) {
	e := c.e
	if !e.hs.Acquire(&c.ls.acc.Handshakes, c.client.Addr()) {
		e.refusal("handshake_limit")
		e.opt.Observer.ConnRefused(c.ls.ID, c.ls.Protocol, "handshake_limit")
		e.logLimited("hs-refused", "TLS handshake refused: too many in flight", "listener", c.ls.ID, "client", c.client)
		c.Close()
		return
	}
	c.hsSlot = true
	c.phase = phHandshake
	c.deadline = time.Now().Add(e.lim.HandshakeTimeout)
	gc := c.gc
	c.tls.Start(gc.LocalAddr(), gc.RemoteAddr(), func() { _ = gc.Wake(nil) }, c.serverTLS(), true, e.lim.HandshakeTimeout)
	c.tls.TR.Feed(first)
}

func (c *conn) releaseHandshake() {
	if c.hsSlot {
		c.hsSlot = false
		c.e.hs.Release(&c.ls.acc.Handshakes, c.client.Addr())
	}
}

// pumpHandshake writes the handshake goroutine's output and, once it is
// done, moves the connection to loop mode.
func (c *conn) pumpHandshake() {
	if out := c.tls.TR.TakeOutput(c.loop.out[:0]); len(out) > 0 {
		if _, err := c.gc.Write(out); err != nil {
			c.Close()
			return
		}
	}
	done, err := c.tls.TR.HandshakeResult()
	if !done {
		return
	}
	c.releaseHandshake()
	if err != nil {
		c.e.refusal("handshake_failed")
		c.e.log.Debug("client TLS handshake failed", "client", c.client, "listener", c.ls.ID, "err", err)
		c.Close()
		return
	}
	if err := c.tls.Finish(c.gc.Write); err != nil {
		c.Close()
		return
	}
	if c.negotiatedH2() {
		c.handOffH2()
		return
	}
	c.phase = phOpen
	c.deadline = time.Time{}
	if c.upgrading {
		c.sess.TLSUp()
	} else {
		c.sess.Begin()
	}
	// Records pipelined behind the client's Finished.
	if c.phase == phOpen && c.readTLS() && len(c.in) > 0 && !c.paused {
		c.sess.Input()
	}
}

// readTLS decrypts what is buffered into c.in. It reports false when the
// connection is now closing.
func (c *conn) readTLS() bool {
	for {
		n, err := c.tls.TC.Read(c.loop.tlsBuf)
		if n > 0 {
			c.in = append(c.in, c.loop.tlsBuf[:n]...)
			if !c.checkInputCap() {
				return false
			}
		}
		if err != nil {
			if sock.IsWouldBlock(err) {
				return true
			}
			c.Close()
			return false
		}
	}
}

// Write sends output to the client, through TLS when it is on. Past the
// hard cap of unsent output the client is not reading: it is closed.
func (c *conn) Write(out []byte) {
	if len(out) == 0 || c.phase == phGone {
		return
	}
	if err := c.tls.Send(c.gc, out); err != nil {
		c.Close()
		return
	}
	if n := c.gc.OutboundBuffered(); n > c.e.lim.OutputHardCap {
		c.e.refusal("output_cap")
		c.e.logLimited("output_cap", "client does not read: closed", "client", c.client, "listener", c.ls.ID, "unsent", n)
		c.Close()
	} else if c.paused {
		c.loop.SetReading(c.gc, false) // a write may have re-armed reading
	}
}

// Behind reports whether output to the client waits in gnet past the soft
// cap: its sources must stop until it drains.
func (c *conn) Behind() bool { return c.gc.OutboundBuffered() > c.e.lim.OutputSoftCap }

// Drained reports whether the client's output is back under half the soft
// cap (hysteresis: resume well below where pausing started).
func (c *conn) Drained() bool { return c.gc.OutboundBuffered() <= c.e.lim.OutputSoftCap/2 }

// Pause and Unpause stop and restart reading the client's socket.
func (c *conn) Pause() {
	if !c.paused && c.phase != phGone {
		c.paused = true
		c.loop.SetReading(c.gc, false)
	}
}

func (c *conn) Unpause() {
	if c.paused && c.phase != phGone {
		c.paused = false
		c.loop.SetReading(c.gc, true)
	}
}

// SetTimeout arms the session's absolute deadline (zero: none).
func (c *conn) SetTimeout(d time.Duration) {
	if d <= 0 {
		c.deadline = time.Time{}
		return
	}
	c.deadline = time.Now().Add(d)
}

// expired runs from the sweep when the deadline passed.
func (c *conn) expired(now time.Time) {
	switch c.phase {
	case phProxy:
		if c.ls.ProxyProtocol == options.ProxyOptional {
			c.proxyDone(0) // no header came: the address is the peer's
			return
		}
		c.e.refusal("proxy_header_timeout")
		c.Close()
	case phHello:
		c.e.refusal("tls_first_byte_timeout")
		c.e.log.Debug("TLS client sent nothing", "client", c.client, "listener", c.ls.ID)
		c.Close()
	case phHandshake:
		c.e.refusal("handshake_timeout")
		c.e.log.Debug("TLS handshake timed out", "client", c.client, "listener", c.ls.ID)
		c.Close()
	case phOpen:
		c.sess.Expired(now)
	}
}

// Close ends the connection (see loop.CloseConn).
func (c *conn) Close() {
	if c.phase == phGone || c.closing {
		return // closing already, or detached (detach closed gnet's copy)
	}
	c.closing = true
	c.loop.CloseConn(c.gc)
}

// Forward describes the client for a backend (PROXY header, XCLIENT, IMAP
// ID), with the session id backends log; the id is made on first use.
func (c *conn) Forward() forward.Info {
	f := forward.Info{Client: c.client, Local: c.local, SessionID: c.e.sessionName(c.id)}
	if c.tls.Active {
		f.TLS = true
		f.TLSVersion = forward.TLSVersionName(c.tls.TC.ConnectionState().Version)
	}
	return f
}

// Live reports whether the session may still act on the connection.
func (c *conn) Live() bool { return c.phase == phOpen && !c.closing }

// kick ends the connection for the admin API, on its loop: the session
// says goodbye in its protocol.
func (c *conn) kick() {
	c.e.log.Info("connection kicked", "client", c.client, "listener", c.ls.ID, "session", c.e.sessionName(c.id))
	if c.phase == phOpen {
		c.sess.Stop(true)
	}
	c.Close()
}

// goodbye runs on the loop when the proxy shuts down.
func (c *conn) goodbye() {
	if c.phase == phOpen {
		c.sess.Stop(false)
		return
	}
	c.Close()
}

// closed runs from OnClose.
func (c *conn) closed(err error) {
	e, l := c.e, c.loop
	e.fds.Release(fdbudget.Client, 1)
	delete(l.conns, c)
	l.nconns.Add(-1)
	if c.paused {
		c.paused = false
	}
	if c.detached {
		return // the bridge or the HTTP/2 server holds the client now
	}
	e.opt.Observer.ConnLeft(c.ls.ID, c.ls.Protocol)
	c.phase = phGone
	c.releaseHandshake()
	if c.tls.TR != nil {
		_ = c.tls.TR.Close() // wakes a handshake goroutine blocked in Read
	}
	c.sess.Gone()
	c.slot.Release()
	c.in = nil
	if err != nil && !errors.Is(err, net.ErrClosed) {
		e.log.Debug("client connection closed", "client", c.client, "err", err)
	}
}

// errUnsentOutput: gnet still holds output the peer has not taken.
var errUnsentOutput = errors.New("output the peer has not read is still waiting")

// detach duplicates the client socket for a new owner and closes gnet's
// copy. Nothing may be unsent in gnet (it drops what it holds at close):
// detach flushes, and fails when output still waits. The connection is
// gone for the reactor afterwards; its slot and registry entry travel with
// the new owner.
func (c *conn) detach() (fd int, err error) {
	if c.phase == phGone {
		return -1, errors.New("client connection already closed")
	}
	if c.gc.OutboundBuffered() > 0 {
		_ = c.gc.Flush()
		if c.gc.OutboundBuffered() > 0 {
			return -1, errUnsentOutput
		}
	}
	if !c.e.fds.TryAcquire(fdbudget.Bridge, 1) {
		return -1, fdbudget.ErrExhausted
	}
	fd, err = c.gc.Dup()
	if err != nil {
		c.e.fds.Release(fdbudget.Bridge, 1)
		return -1, err
	}
	c.detached = true
	c.phase = phGone
	c.releaseHandshake()
	c.e.opt.Observer.ConnLeft(c.ls.ID, c.ls.Protocol)
	c.loop.CloseConn(c.gc)
	return fd, nil
}

// serverTLS is the configuration for a new handshake on this listener.
func (c *conn) serverTLS() *tls.Config {
	base := c.e.opt.ServerTLS()
	if c.ls.h2drv != nil {
		return c.ls.alpn.Get(base)
	}
	return base
}
