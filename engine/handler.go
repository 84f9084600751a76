package engine

import (
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/engine/accept"
	"github.com/switchyard-mail/switchyard/engine/leg"
)

// handler adapts gnet's callbacks to client connections (*conn) and
// backend legs (*leg.Leg); the context of a gnet connection is set when it is
// enrolled (engine/accept, engine/leg) and says which it is.
type handler struct {
	gnet.BuiltinEventEngine
	e       *Engine
	cleanup func() // unlinks gnet's own (unreachable) listener
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.e.gnet = eng
	h.cleanup()
	return gnet.None
}

func (h *handler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	var l *loop
	switch x := gc.Context().(type) {
	case *accept.Accepted:
		l = h.e.loopFor(gc.EventLoop())
		l.cur, l.closeCur = gc, false
		h.e.openClient(l, gc, x)
	case *leg.Leg:
		l = x.Loop().(*loop)
		l.cur, l.closeCur = gc, false
		x.Opened(gc)
	default:
		return nil, gnet.Close
	}
	l.cur = nil
	if l.closeCur {
		l.closeCur = false
		return nil, gnet.Close
	}
	return nil, gnet.None
}

func (h *handler) OnTraffic(gc gnet.Conn) gnet.Action {
	data, _ := gc.Next(-1)
	var l *loop
	switch x := gc.Context().(type) {
	case *conn:
		l = x.loop
		l.cur, l.closeCur = gc, false
		x.traffic(data)
	case *leg.Leg:
		l = x.Loop().(*loop)
		l.cur, l.closeCur = gc, false
		x.Traffic(data)
	default:
		return gnet.Close
	}
	l.cur = nil
	if l.closeCur {
		l.closeCur = false
		return gnet.Close
	}
	return gnet.None
}

func (h *handler) OnClose(gc gnet.Conn, err error) gnet.Action {
	switch x := gc.Context().(type) {
	case *conn:
		x.closed(err)
	case *leg.Leg:
		x.Closed(err)
	}
	return gnet.None
}

func (h *handler) OnTick() (time.Duration, gnet.Action) {
	h.e.startOnce.Do(func() { close(h.e.loopsUp) })
	return h.e.tick(), gnet.None
}
