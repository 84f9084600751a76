package engine

import (
	"context"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// ConnSnapshot describes one connection that is not bridged yet.
type ConnSnapshot struct {
	ID       uint64
	Listener string
	Protocol string
	Client   string
	State    string
	Account  string
	// Destination is the backend being logged in to, or a relayed
	// session's current leg.
	Destination string
	Age         time.Duration
}

var stateNames = [...]string{"proxy-header", "tls-handshake", "preauth", "routing", "delayed", "backend", "relaying", "bridging", "closing", "done"}

// Snapshot lists the connections still in the reactor (pre-auth, routing,
// replaying the login). It asks each loop in turn, on the loop, and gives up
// on a loop that does not answer within the timeout.
func (e *Engine) Snapshot(timeout time.Duration) (conns []ConnSnapshot, unanswered int) {
	e.loopsMu.Lock()
	loops := make([]*loopState, 0, len(e.loops))
	for _, l := range e.loops {
		loops = append(loops, l)
	}
	e.loopsMu.Unlock()
	now := time.Now()
	for _, l := range loops {
		ch := make(chan []ConnSnapshot, 1)
		l := l
		err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			var out []ConnSnapshot
			for cc := range l.clients {
				out = append(out, cc.snapshot(now))
			}
			ch <- out
			return nil
		}))
		if err != nil {
			unanswered++
			continue
		}
		select {
		case got := <-ch:
			conns = append(conns, got...)
		case <-time.After(timeout):
			unanswered++
		}
	}
	return conns, unanswered
}

func (cc *clientConn) snapshot(now time.Time) ConnSnapshot {
	dest := destID(cc.dest)
	if cc.back != nil {
		dest = cc.back.dest.ID
	}
	return ConnSnapshot{
		ID: cc.id, Listener: cc.ls.ID, Protocol: cc.ls.Protocol, Client: cc.fwd.Client.String(),
		State: stateNames[cc.state], Account: cc.account, Destination: dest, Age: now.Sub(cc.accepted),
	}
}
