package engine

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/switchyard-mail/switchyard/engine/leg"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// The client connection as its session kind sees it (session.Conn): the
// transport's calls are in conn.go, the engine's services here.

var _ session.Conn = (*conn)(nil)

func (c *conn) Listener() *options.Listener   { return c.ls.Listener }
func (c *conn) Client() netip.AddrPort        { return c.client }
func (c *conn) SessionName() string           { return c.e.sessionName(c.id) }
func (c *conn) Input() []byte                 { return c.in }
func (c *conn) Out() []byte                   { return c.loop.out[:0] }
func (c *conn) RelayOut() *protocols.RelayOut { return c.loop.relayOut() }
func (c *conn) OutputSoftCap() int            { return c.e.lim.OutputSoftCap }
func (c *conn) AddPaused(r session.Resumer)   { c.loop.addPaused(r) }
func (c *conn) DropPaused(r session.Resumer)  { c.loop.dropPaused(r) }
func (c *conn) SetDeadline(t time.Time)       { c.deadline = t }
func (c *conn) Post(fn func()) bool           { return c.loop.Post(fn) }
func (c *conn) Log() *slog.Logger             { return c.e.log }
func (c *conn) Refusal(reason string)         { c.e.refusal(reason) }
func (c *conn) Options() *options.Options     { return &c.e.opt }
func (c *conn) Draining() bool                { return c.e.draining.Load() }
func (c *conn) Relaying(delta int64)          { c.e.Stats.Relaying.Add(delta) }

// Consume drops n bytes of the unconsumed input.
func (c *conn) Consume(n int) {
	c.in = c.in[n:]
	if len(c.in) == 0 {
		c.in = nil
	}
}

func (c *conn) DelayedUntil(account string, now time.Time) time.Time {
	return c.e.gate.DelayedUntil(account, now)
}

func (c *conn) Resolve(account string, done func(router.Result, error, bool)) {
	c.e.gate.Resolve(c.loop.Post, account, done)
}

func (c *conn) Admit(req session.AdmitRequest, res router.Result, err error) session.Admission {
	return c.e.gate.Admit(req, res, err)
}

func (c *conn) Destination(id string) *options.Destination { return c.e.destination(id) }

func (c *conn) HealthSuccess(d *options.Destination) { c.e.gate.HealthSuccess(d, c.ls.Protocol) }

func (c *conn) HealthFailure(d *options.Destination, client netip.AddrPort) {
	c.e.gate.HealthFailure(d, c.ls.Protocol, client)
}

func (c *conn) Audit(account, dest, outcome, reason string, since time.Time) {
	c.e.audit(c, account, dest, outcome, reason, since)
}

func (c *conn) LoginFailed(kind protocols.FailKind, outcome string) {
	e := c.e
	e.opt.Observer.Auth(c.ls.Protocol, outcome)
	e.Stats.LoginFailures.Add(1)
	if kind != protocols.FailRejected {
		e.Stats.BackendFailures.Add(1)
	}
}

func (c *conn) StartReplay(owner session.ReplayOwner, login *protocols.Login, adm session.Admission) session.Replay {
	return c.e.startReplay(c, owner, login, adm)
}

func (c *conn) Dial(owner session.LegOwner, dest *options.Destination, dp options.DestProtocol) session.Leg {
	return leg.Dial(c.e.legs, c.loop, owner, dest, dp, c.Forward())
}

func (c *conn) TakeLeg(owner session.LegOwner, dest *options.Destination) session.Leg {
	if l := c.loop.legs.Take(owner, dest, c.ls.Protocol); l != nil {
		return l
	}
	return nil // not a nil *leg.Leg in the interface
}

func (c *conn) ParkLeg(m protocols.Relay, sl session.Leg) bool {
	l, ok := sl.(*leg.Leg)
	return ok && c.loop.legs.Park(m, l)
}

// Tunnel hands the client and the leg to the bridge (an HTTP upgrade):
// clientFirst (the 101) and what the backend sent after it are the
// client's prelude; backendFirst goes ahead of the client's own bytes.
func (c *conn) Tunnel(sl session.Leg, clientFirst, backendFirst []byte, account string) {
	l, _ := sl.(*leg.Leg)
	if l == nil || !l.Open() {
		c.Close()
		return
	}
	d, err := l.Detach()
	if err != nil {
		c.e.refusal("handoff_backend")
		c.e.log.Warn("hand-off to the bridge failed", "session", c.id, "client", c.client, "err", err)
		l.Drop()
		c.Close()
		return
	}
	if len(backendFirst) > 0 {
		c.in = append(append([]byte(nil), backendFirst...), c.in...)
	}
	prelude := append(append([]byte(nil), clientFirst...), d.Unread...)
	back := backendSide{fd: d.FD, dest: l.Dest().ID}
	if d.TLS != nil {
		back.tc, back.tr = d.TLS.TC, d.TLS.TR
	}
	c.e.bridge(c, back, prelude, account)
}
