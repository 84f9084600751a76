package leg

import (
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols"
)

// Pool keeps idle relay legs (HTTP keep-alive connections to backends) of
// one event loop, by destination, so a request from another client on the
// same loop reuses one instead of dialing. Legs stay on the loop they were
// enrolled on: a pool per loop needs no locks. A parked leg has no owner.
type Pool struct {
	idle map[string][]*Leg
}

const (
	maxIdleLegsPerDest = limits.MaxIdleLegsPerDest
	legIdleTimeout     = limits.LegIdleTimeout
)

// Park keeps l idle in the pool if the machine says it is reusable and
// nothing is in flight on it. It reports whether it did.
func (lp *Pool) Park(m protocols.Relay, l *Leg) bool {
	keeper, ok := m.(protocols.RelayLegKeeper)
	if !ok || !keeper.LegReusable() {
		return false
	}
	if l.gc == nil || l.st != legOpen || len(l.in) > 0 || l.gc.OutboundBuffered() > 0 ||
		l.dp.Forwarding == options.ForwardProxy {
		// A PROXY header named the first client: that leg is not for others.
		return false
	}
	if len(lp.idle[l.dest.ID]) >= maxIdleLegsPerDest {
		return false
	}
	if lp.idle == nil {
		lp.idle = map[string][]*Leg{}
	}
	l.Unpause() // a parked leg must see its backend close it
	l.owner = nil
	l.parked, l.parkedAt = true, time.Now()
	lp.idle[l.dest.ID] = append(lp.idle[l.dest.ID], l)
	return true
}

// Take gives owner an idle leg to dest for proto (most recent first), or
// returns nil.
func (lp *Pool) Take(owner session.LegOwner, dest *options.Destination, proto string) *Leg {
	legs := lp.idle[dest.ID]
	for len(legs) > 0 {
		l := legs[len(legs)-1]
		legs = legs[:len(legs)-1]
		lp.idle[dest.ID] = legs
		l.parked = false
		// A leg whose destination was reconfigured since is not reused.
		if dp, ok := dest.Protocols[proto]; !ok || l.dest.Host != dest.Host || l.dp != dp {
			l.Drop()
			continue
		}
		l.owner = owner
		return l
	}
	return nil
}

// remove takes l out of the pool (it closed or misbehaved).
func (lp *Pool) remove(l *Leg) {
	legs := lp.idle[l.dest.ID]
	for i, x := range legs {
		if x == l {
			lp.idle[l.dest.ID] = append(legs[:i], legs[i+1:]...)
			break
		}
	}
	l.parked = false
}

// Sweep closes legs idle for too long.
func (lp *Pool) Sweep(now time.Time) {
	for _, legs := range lp.idle {
		for _, l := range legs {
			if now.Sub(l.parkedAt) > legIdleTimeout {
				l.st = legDead
				_ = l.gc.Close() // Closed takes it out
			}
		}
	}
}
