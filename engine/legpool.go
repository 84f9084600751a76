package engine

import (
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols"
)

// Idle relay legs (HTTP keep-alive connections to backends) are kept per
// event loop and destination, so a request from another client on the same
// loop reuses one instead of dialing. Legs stay on the loop they were
// enrolled on: a pool per loop needs no locks. A parked leg has no owner.

const (
	maxIdleLegsPerDest = limits.MaxIdleLegsPerDest
	legIdleTimeout     = limits.LegIdleTimeout
)

// parkLeg keeps l idle in the pool if the machine says it is reusable and
// nothing is in flight on it. It reports whether it did.
func (lp *loop) parkLeg(m protocols.Relay, l *leg) bool {
	keeper, ok := m.(protocols.RelayLegKeeper)
	if !ok || !keeper.LegReusable() {
		return false
	}
	if l.gc == nil || l.st != legOpen || len(l.in) > 0 || l.gc.OutboundBuffered() > 0 ||
		l.dp.Forwarding == options.ForwardProxy {
		// A PROXY header named the first client: that leg is not for others.
		return false
	}
	if len(lp.idleLegs[l.dest.ID]) >= maxIdleLegsPerDest {
		return false
	}
	if lp.idleLegs == nil {
		lp.idleLegs = map[string][]*leg{}
	}
	l.Unpause() // a parked leg must see its backend close it
	l.owner = nil
	l.parked, l.parkedAt = true, time.Now()
	lp.idleLegs[l.dest.ID] = append(lp.idleLegs[l.dest.ID], l)
	return true
}

// takeLeg returns an idle leg to dest for proto (most recent first), or nil.
func (lp *loop) takeLeg(dest *options.Destination, proto string) *leg {
	legs := lp.idleLegs[dest.ID]
	for len(legs) > 0 {
		l := legs[len(legs)-1]
		legs = legs[:len(legs)-1]
		lp.idleLegs[dest.ID] = legs
		l.parked = false
		// A leg whose destination was reconfigured since is not reused.
		if dp, ok := dest.Protocols[proto]; !ok || l.dest.Host != dest.Host || l.dp != dp {
			l.Drop()
			continue
		}
		return l
	}
	return nil
}

// unpark removes l from its loop's pool (it closed or misbehaved).
func (lp *loop) unpark(l *leg) {
	legs := lp.idleLegs[l.dest.ID]
	for i, x := range legs {
		if x == l {
			lp.idleLegs[l.dest.ID] = append(legs[:i], legs[i+1:]...)
			break
		}
	}
	l.parked = false
}

// sweepLegs closes legs idle for too long.
func (lp *loop) sweepLegs(now time.Time) {
	for _, legs := range lp.idleLegs {
		for _, l := range legs {
			if now.Sub(l.parkedAt) > legIdleTimeout {
				l.st = legDead
				_ = l.gc.Close() // closed() unparks it
			}
		}
	}
}
