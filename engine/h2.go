package engine

import (
	"crypto/tls"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/engine/sock"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
)

// HTTP/2 from clients. An http listener with H2 offers ALPN "h2" next to
// "http/1.1"; a connection that negotiates h2 leaves the reactor once its
// handshake is done: the engine duplicates the socket, makes the copy
// blocking, closes gnet's, and gives the decrypted stream to the driver's
// ServeH2 on a goroutine of its own. HTTP/2 multiplexes streams with flow
// control and HPACK state per connection: golang.org/x/net/http2 keeps that
// state, and it needs a blocking connection.

// alpnConfigs caches, per listener, the server TLS configuration with h2
// offered, derived from the current base configuration (certificates are
// swapped on reload).
type alpnConfigs struct {
	cur atomic.Pointer[[2]*tls.Config] // base, derived
}

func (a *alpnConfigs) get(base *tls.Config) *tls.Config {
	if p := a.cur.Load(); p != nil && p[0] == base {
		return p[1]
	}
	d := base.Clone()
	d.NextProtos = []string{"h2", "http/1.1"}
	a.cur.Store(&[2]*tls.Config{base, d})
	return d
}

// h2Conn is the blocking connection ServeH2 gets.
type h2Conn struct {
	*tls.Conn
	fd     int
	e      *Engine
	slot   *clientSlot
	reg    *sessions.Entry
	closed sync.Once
}

func (c *h2Conn) Close() error {
	c.closed.Do(func() {
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR) // wakes a blocked read
		_ = unix.Close(c.fd)
		c.e.fds.Release(fdbudget.HTTP2, 1)
		c.slot.release()
		c.e.reg.Remove(c.reg)
		si := c.reg.Info
		c.e.log.Info("http/2 connection ended", "session", c.e.sessionName(si.ID), "listener", si.Listener, "client", si.Client,
			"duration_s", seconds(time.Since(si.Started)))
	})
	return nil
}

// handOffH2 moves a client that negotiated h2 out of the reactor, at the
// end of its handshake.
func (c *conn) handOffH2() {
	e := c.e
	fd, err := c.detach()
	if err != nil {
		e.log.Warn("h2: cannot take the client socket", "client", c.client, "err", err)
		c.Close()
		return
	}
	slot := c.slot.handOff()
	if err := unix.SetNonblock(fd, false); err != nil {
		e.log.Warn("h2: cannot take the client socket", "client", c.client, "err", err)
		sock.CloseFD(fd)
		e.fds.Release(fdbudget.Bridge, 1)
		slot.release()
		return
	}
	e.fds.Move(fdbudget.Bridge, fdbudget.HTTP2, 1)
	c.tls.tr.UseFD(fd) // blocking fd: reads and writes block
	conn := &h2Conn{Conn: c.tls.tc, fd: fd, e: e, slot: slot}
	si := c.info()
	si.State = sessions.StateHTTP2
	conn.reg = e.reg.Add(&sessions.Entry{Info: si, Kick: func() { _ = conn.Close() }})
	drv, l, client := c.ls.h2drv, c.ls.Listener, c.Forward()
	go func() {
		defer conn.Close()
		drv.ServeH2(l, conn, client)
	}()
}

// closeH2 ends every HTTP/2 connection (shutdown).
func (e *Engine) closeH2() {
	for _, r := range e.reg.List() {
		if r.Info.State == sessions.StateHTTP2 {
			r.Kick()
		}
	}
}

// negotiatedH2 reports whether the finished handshake chose h2.
func (c *conn) negotiatedH2() bool {
	return c.ls.h2drv != nil && c.tls.tc.ConnectionState().NegotiatedProtocol == "h2"
}
