package engine

import (
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// handler adapts gnet's callbacks to client and backend connections.
type handler struct {
	gnet.BuiltinEventEngine
	e *Engine
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.e.gnet = eng
	close(h.e.started)
	return gnet.None
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if bc, ok := c.Context().(*backendConn); ok {
		return nil, bc.opened(c)
	}
	return nil, h.e.openClient(c)
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	data, _ := c.Next(-1)
	switch x := c.Context().(type) {
	case *clientConn:
		return x.traffic(data)
	case *backendConn:
		return x.traffic(data)
	}
	return gnet.None
}

func (h *handler) OnClose(c gnet.Conn, err error) gnet.Action {
	switch x := c.Context().(type) {
	case *clientConn:
		x.closed(err)
	case *backendConn:
		x.closed()
	}
	return gnet.None
}

func (h *handler) OnTick() (time.Duration, gnet.Action) {
	h.e.sweepAll()
	return sweepInterval, gnet.None
}

func closeFD(fd int) { _ = unix.Close(fd) }
