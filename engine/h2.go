package engine

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/protocols/forward"
)

// HTTP/2 from clients. An http listener with H2 offers ALPN "h2" next to
// "http/1.1"; a connection that negotiates h2 leaves the reactor once its
// handshake is done: the engine duplicates the socket, makes the copy
// blocking, closes gnet's, and gives the decrypted stream to the driver's
// ServeH2 on a goroutine of its own. HTTP/2 multiplexes streams with flow
// control and HPACK state per connection: golang.org/x/net/http2 keeps that
// state, and it needs a blocking connection.

// H2Driver is a Driver that serves connections which negotiated h2.
type H2Driver interface {
	Driver
	// ServeH2 serves conn until it ends; it runs on its own goroutine.
	// conn.Close ends the connection (and unblocks its reads).
	ServeH2(l *Listener, conn net.Conn, client forward.Info)
}

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

// serverTLS is the configuration for a new handshake on this listener.
func (cc *clientConn) serverTLS() *tls.Config {
	base := cc.e.opt.ServerTLS()
	if cc.ls.H2 && cc.ls.h2drv != nil {
		return cc.ls.alpn.get(base)
	}
	return base
}

// h2Conn is the blocking connection ServeH2 gets.
type h2Conn struct {
	*tls.Conn
	fd     int
	e      *Engine
	closed sync.Once
}

func (c *h2Conn) Close() error {
	c.closed.Do(func() {
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR) // wakes a blocked read
		_ = unix.Close(c.fd)
		c.e.fdsInUse.Add(-1)
		c.e.h2Conns.Delete(c)
	})
	return nil
}

// handOffH2 moves a client that negotiated h2 out of the reactor. It runs
// in the client's own callback: the caller returns gnet.Close.
func (cc *clientConn) handOffH2() {
	e := cc.e
	fd, err := cc.c.Dup()
	if err == nil {
		err = unix.SetNonblock(fd, false)
		if err != nil {
			closeFD(fd)
		}
	}
	cc.leaveReactor()
	if err != nil {
		e.log.Error("h2: cannot take the client socket", "client", cc.fwd.Client, "err", err)
		return
	}
	cc.tlsT.UseFD(fd) // blocking fd: reads and writes block
	e.fdsInUse.Add(1)
	conn := &h2Conn{Conn: cc.tc, fd: fd, e: e}
	e.h2Conns.Store(conn, struct{}{})
	drv, l, client := cc.ls.h2drv, cc.ls.Listener, cc.fwd
	go func() {
		defer conn.Close()
		drv.ServeH2(l, conn, client)
	}()
}

// closeH2 ends every HTTP/2 connection (shutdown).
func (e *Engine) closeH2() {
	e.h2Conns.Range(func(k, _ any) bool {
		_ = k.(*h2Conn).Close()
		return true
	})
}

// negotiatedH2 reports whether the finished handshake chose h2.
func (cc *clientConn) negotiatedH2() bool {
	return cc.ls.h2drv != nil && cc.tc.ConnectionState().NegotiatedProtocol == "h2"
}
