package console

import (
	"context"
	"time"

	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/health"
)

// histCounters are the cumulative counters one history point is the
// difference of.
type histCounters struct {
	logins            [6]uint64
	bytesIn, bytesOut int64
}

// counters reads the cumulative counters now: bytes of ended sessions
// plus what the live ones relayed so far.
func (a *Backend) counters() histCounters {
	var c histCounters
	for i := range c.logins {
		c.logins[i] = a.con.logins[i].Load()
	}
	c.bytesIn, c.bytesOut = a.con.bytesIn.Load(), a.con.bytesOut.Load()
	for _, s := range a.deps.Engine.Sessions(nil) {
		c.bytesIn += s.BytesIn
		c.bytesOut += s.BytesOut
	}
	return c
}

// recordMinute records the point of the minute starting at start: the
// counters' growth since the previous point, and the live sessions now.
func (a *Backend) RecordMinute(start time.Time) {
	cur := a.counters()
	a.con.histMu.Lock()
	prev := a.con.histPrev
	a.con.histPrev = cur
	a.con.histMu.Unlock()
	p := events.HistoryPoint{Time: start.UTC(), Logins: map[string]uint64{}, Sessions: map[string]map[string]int{},
		BytesIn: max(cur.bytesIn-prev.bytesIn, 0), BytesOut: max(cur.bytesOut-prev.bytesOut, 0)}
	for i, o := range loginOutcomes {
		if d := cur.logins[i] - prev.logins[i]; d > 0 {
			p.Logins[o] = d
		}
	}
	for _, s := range a.deps.Engine.Sessions(nil) {
		if p.Sessions[s.Destination] == nil {
			p.Sessions[s.Destination] = map[string]int{}
		}
		p.Sessions[s.Destination][s.Protocol]++
	}
	a.deps.History.Record(p)
}

// runHistory records a point at the end of every minute until ctx ends.
func (a *Backend) RunHistory(ctx context.Context) {
	a.con.histMu.Lock()
	a.con.histPrev = a.counters()
	a.con.histMu.Unlock()
	for {
		now := time.Now()
		start := now.Truncate(time.Minute)
		t := time.NewTimer(start.Add(time.Minute).Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		a.RecordMinute(start)
	}
}

// exportBreakers copies the breakers' states into the metrics every
// second until ctx ends.
func (a *Backend) ExportBreakers(ctx context.Context) {
	if a.deps.Metrics == nil || a.deps.Health == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		for _, s := range a.deps.Health.Snapshot() {
			a.deps.Metrics.SetBreaker(s.Dest, s.Proto, s.State != health.Closed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
