package engine

import (
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/protocols"
)

// Idle relay legs (HTTP keep-alive connections to backends) are kept per
// event loop and destination, so a request from another client on the same
// loop reuses one instead of dialing. Legs stay on the loop they were
// enrolled on: a pool per loop needs no locks.

const (
	maxIdleLegsPerDest = 32
	legIdleTimeout     = 30 * time.Second
)

// parkLeg keeps bc idle in the loop's pool if the machine says it is
// reusable and nothing is in flight on it. It reports whether it did.
func (cc *clientConn) parkLeg(bc *backendConn) bool {
	keeper, ok := cc.rel.(protocols.RelayLegKeeper)
	if !ok || !keeper.LegReusable() {
		return false
	}
	if bc.c == nil || bc.dropped || bc.detached || bc.handshake || bc.pendingLeg != nil ||
		len(bc.in) > 0 || bc.c.OutboundBuffered() > 0 || bc.dp.Forwarding == ForwardProxy {
		// A PROXY header named the first client: that leg is not for others.
		return false
	}
	l := cc.loop
	if len(l.idleLegs[bc.dest.ID]) >= maxIdleLegsPerDest {
		return false
	}
	if l.idleLegs == nil {
		l.idleLegs = map[string][]*backendConn{}
	}
	bc.parked, bc.parkedAt = true, time.Now()
	l.idleLegs[bc.dest.ID] = append(l.idleLegs[bc.dest.ID], bc)
	return true
}

// takeLeg returns an idle leg to dest for cc (most recent first), or nil.
func (cc *clientConn) takeLeg(dest *Destination) *backendConn {
	l := cc.loop
	legs := l.idleLegs[dest.ID]
	for len(legs) > 0 {
		bc := legs[len(legs)-1]
		legs = legs[:len(legs)-1]
		l.idleLegs[dest.ID] = legs
		// A leg whose destination was reconfigured since is not reused.
		if dp, ok := dest.Protocols[cc.ls.Protocol]; !ok || bc.dest.Host != dest.Host || bc.dp != dp {
			bc.parked = false
			bc.drop()
			continue
		}
		bc.parked = false
		bc.cc = cc
		return bc
	}
	return nil
}

// unpark removes bc from its loop's pool (it closed or misbehaved).
func (l *loopState) unpark(bc *backendConn) {
	legs := l.idleLegs[bc.dest.ID]
	for i, x := range legs {
		if x == bc {
			l.idleLegs[bc.dest.ID] = append(legs[:i], legs[i+1:]...)
			break
		}
	}
	bc.parked = false
}

// sweepLegs closes legs idle for too long.
func (l *loopState) sweepLegs(now time.Time) {
	for _, legs := range l.idleLegs {
		for _, bc := range legs {
			if now.Sub(bc.parkedAt) > legIdleTimeout {
				_ = bc.c.Close() // closed() unparks it
			}
		}
	}
}

// parkedTraffic: an idle leg spoke (a timeout notice) or closed: it is
// not reusable any more.
func (bc *backendConn) parkedTraffic() gnet.Action {
	bc.loop.unpark(bc)
	bc.dropped = true
	return gnet.Close
}
