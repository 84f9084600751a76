package engine

import (
	"context"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/engine/h2"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/engine/sock"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/router"
)

// HTTP/2 from clients (engine/h2): a connection that negotiated h2 leaves
// the reactor at the end of its handshake.

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
	slot := c.slot.HandOff()
	if err := unix.SetNonblock(fd, false); err != nil {
		e.log.Warn("h2: cannot take the client socket", "client", c.client, "err", err)
		sock.CloseFD(fd)
		e.fds.Release(fdbudget.Bridge, 1)
		slot.Release()
		return
	}
	e.fds.Move(fdbudget.Bridge, fdbudget.HTTP2, 1)
	c.tls.TR.UseFD(fd) // blocking fd: reads and writes block
	si := c.info()
	si.State = sessions.StateHTTP2
	var reg *sessions.Entry
	conn := h2.NewConn(c.tls.TC, fd, func() {
		e.fds.Release(fdbudget.HTTP2, 1)
		slot.Release()
		e.reg.Remove(reg)
		e.log.Info("http/2 connection ended", "session", e.sessionName(si.ID), "listener", si.Listener, "client", si.Client,
			"duration_s", seconds(time.Since(si.Started)))
	})
	reg = e.reg.Add(&sessions.Entry{Info: si, Kick: func() { _ = conn.Close() }})
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
	return c.ls.h2drv != nil && c.tls.TC.ConnectionState().NegotiatedProtocol == "h2"
}

// ResolveStream resolves an HTTP/2 stream's account (h2.Streams.Resolve).
func (e *Engine) ResolveStream(ctx context.Context, id string) (router.Result, error) {
	return e.streams.Resolve(ctx, id)
}

// AdmitStream applies the gate to a stream (h2.Streams.Admit).
func (e *Engine) AdmitStream(s h2.Stream) (done func(backendFailed bool), status int, reason string) {
	return e.streams.Admit(s)
}
