package protoload

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/internal/sources"
	"github.com/switchyard-mail/switchyard/bench/protoload/internal/run"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// The types below run single operations of the login storm and the
// deliver scenario for a scenario that schedules them itself
// (bench/mixload): the options are checked once, the dialer and the
// histograms are kept across operations.

// LoginOp runs login operations (connect, greeting, login, NOOP,
// QUIT/LOGOUT, linger) of o.Protocol. Safe for concurrent use.
type LoginOp struct {
	o  Options
	d  *sources.Dialer
	ph imapload.Phases
}

// NewLoginOp checks o (Duration and Count are not used).
func NewLoginOp(o Options) (*LoginOp, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	d, err := sources.NewDialer(o.Target, o.Sources, o.Timeout)
	if err != nil {
		return nil, err
	}
	return &LoginOp{o: o, d: d}, nil
}

// Do runs one login operation for acct.
func (l *LoginOp) Do(ctx context.Context, acct imapload.Account) error {
	if oe := loginOnce(ctx, &l.o, l.d, acct, &l.ph); oe != nil {
		return oe
	}
	return nil
}

// Latency is the histogram of whole operations.
func (l *LoginOp) Latency() *stats.Histogram { return &l.ph.Total }

// Phases summarises the steps of the operations so far.
func (l *LoginOp) Phases() map[string]stats.Summary { return l.ph.Summaries(l.o.TLS, false) }

// ErrorKind names a failure for the report as the scenarios do ("auth:
// -ERR [AUTH]", "connect: refused"); an error that does not come from this
// package is named "<phase>: <kind>".
func ErrorKind(phase string, err error) string {
	var oe *run.OpError
	if errors.As(err, &oe) {
		return oe.Kind()
	}
	return run.Fail(phase, err).Kind()
}

// Deliverer sends messages of the deliver scenario one at a time over
// connections it opens on demand (DeliverConn), counting what RunDeliver
// counts. Safe for concurrent use by distinct DeliverConns.
type Deliverer struct {
	o      DeliverOptions
	d      *sources.Dialer
	wire   []byte
	ph     imapload.Phases
	dp     deliverPhases
	errs   stats.Errors
	cnt    deliverCounters
	unused atomic.Int64
}

// NewDeliverer checks o (Concurrency, Duration and Count are not used).
func NewDeliverer(o DeliverOptions) (*Deliverer, error) {
	lo, err := o.check()
	if err != nil {
		return nil, err
	}
	d, err := sources.NewDialer(lo.Target, lo.Sources, lo.Timeout)
	if err != nil {
		return nil, err
	}
	return &Deliverer{o: o, d: d, wire: dotStuff(MessageBody(o.MessageSize))}, nil
}

// DeliverConn is one client of a Deliverer; not safe for concurrent use.
type DeliverConn struct {
	w    *deliverWorker
	sent int
}

// Conn returns a new client, not yet connected.
func (d *Deliverer) Conn() *DeliverConn {
	return &DeliverConn{w: &deliverWorker{o: &d.o, d: d.d, wire: d.wire, ph: &d.ph, dp: &d.dp, errs: &d.errs,
		cnt: &d.cnt, started: &d.unused, okp: &d.unused}}
}

// Connect opens the connection now (greeting and EHLO/LHLO) if it is not
// open; Send does it when needed.
func (c *DeliverConn) Connect(ctx context.Context) error {
	if c.w.c != nil {
		return nil
	}
	if oe := c.w.open(ctx); oe != nil {
		return oe
	}
	c.sent = 0
	return nil
}

// Send delivers message n (recipients as in RunDeliver), connecting first
// when needed, and reports whether every recipient accepted it. Failures
// are counted in Errors; after one that leaves the connection unusable the
// next Send reconnects. With PerConnection set, the connection is closed
// (QUIT, linger) after that many messages.
func (c *DeliverConn) Send(ctx context.Context, n int64) bool {
	w := c.w
	if w.c == nil {
		if oe := w.open(ctx); oe != nil {
			if ctx.Err() == nil {
				w.errs.Add(oe.Kind())
			}
			return false
		}
		c.sent = 0
	}
	_ = w.c.c.SetDeadline(time.Now().Add(w.o.Timeout))
	inSync, oe := w.message(n)
	if oe != nil {
		w.errs.Add(oe.Kind())
	}
	c.sent++
	switch {
	case !inSync:
		w.c.Close()
		w.c = nil
	case w.o.PerConnection > 0 && c.sent >= w.o.PerConnection:
		c.Close()
	}
	return w.delivered
}

// Close sends QUIT on an open connection, waits up to Linger for the
// server to close it, and closes it.
func (c *DeliverConn) Close() {
	w := c.w
	if w.c == nil {
		return
	}
	_ = w.c.c.SetDeadline(time.Now().Add(w.o.Timeout))
	w.quit()
	w.c.Close()
	w.c = nil
}

// Delivered counts messages accepted for every recipient; Partial those
// accepted for some; Connections the connections opened.
func (d *Deliverer) Delivered() int64   { return d.cnt.ok.Load() }
func (d *Deliverer) Partial() int64     { return d.cnt.partial.Load() }
func (d *Deliverer) Connections() int64 { return d.cnt.conns.Load() }

// Errors are the failures so far, by kind.
func (d *Deliverer) Errors() *stats.Errors { return &d.errs }

// Latency is the histogram of delivered messages, MAIL to the final reply.
func (d *Deliverer) Latency() *stats.Histogram { return &d.ph.Total }

// Phases summarises connect, envelope, data and quit so far.
func (d *Deliverer) Phases() map[string]stats.Summary {
	m := map[string]stats.Summary{"connect": d.dp.connect.Summarize(), "envelope": d.dp.envelope.Summarize(), "data": d.dp.data.Summarize()}
	if d.dp.quit.Count() > 0 {
		m["quit"] = d.dp.quit.Summarize()
	}
	return m
}
