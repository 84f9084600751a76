package imapload

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/internal/progress"
	"github.com/switchyard-mail/switchyard/bench/internal/sources"
	"github.com/switchyard-mail/switchyard/bench/internal/storm"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// LoginOptions configure a login storm: each operation connects, starts
// TLS as asked, logs in, sends NOOP (unless SkipNoop) and logs out.
type LoginOptions struct {
	Options
	// The run stops after Duration or Count operations, whichever comes
	// first; with neither, it runs for 10 s. Both are capped.
	Duration time.Duration
	Count    int64
	// Rate > 0 makes the storm open-loop: that many logins start per
	// second whatever the target does, and each one's latency counts
	// from when it was due (storm.OpsAt); Concurrency must cover rate ×
	// latency, or the run falls behind (late starts count as latency).
	Rate     float64
	SkipNoop bool
	// Linger is how long to wait for the server to close after LOGOUT
	// (default 1 s), so TIME_WAIT stays on its side.
	Linger time.Duration
}

// RunLogin runs a login storm.
func RunLogin(ctx context.Context, o LoginOptions) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	o.Duration, o.Count = StormLength(o.Duration, o.Count)
	if o.Linger <= 0 {
		o.Linger = time.Second
	}
	r, err := storm.Start(ctx, o.Target, o.Sources, o.Timeout, o.Duration)
	if err != nil {
		return nil, err
	}
	defer r.Stop()

	var (
		ph   Phases
		errs stats.Errors
		ok   atomic.Int64
	)
	smp := stats.NewRunSampling(o.Sampler)
	smp.Take("start")
	res := &Result{Scenario: "login", Target: o.Target, TLS: o.TLS, Auth: o.Auth, Concurrency: o.Concurrency, Rate: o.Rate, Sources: o.Sources, Started: time.Now()}
	stopProgress := startProgress(&o.Options, progress.Ops(&ok, &errs, &ph.Total))
	stopTimeline := stats.StartTimeline(o.Timeline, o.Sampler, ok.Load, errs.Total, nil, &ph.Total)
	t0 := time.Now()
	r.OpsAt(o.Rate, o.Concurrency, o.Count, &ok, &errs, func(ctx context.Context, n int64) error {
		return loginOnce(ctx, &o, r.Dialer, o.Accounts[(n-1)%int64(len(o.Accounts))], &ph)
	}, func(err error) (string, string) {
		var oe *opError
		if errors.As(err, &oe) {
			return oe.phase, oe.kind()
		}
		return "", "other"
	})
	wall, timeline := storm.Finish(t0, stopTimeline, stopProgress, smp)
	res.Timeline = timeline

	res.SetCounts(wall, ok.Load(), &errs, &ph.Total)
	res.Phases = ph.Summaries(o.TLS, false)
	res.SetCost(smp, "")
	return res, nil
}

func loginOnce(ctx context.Context, o *LoginOptions, d *sources.Dialer, acct Account, ph *Phases) error {
	t0 := time.Now()
	if due, ok := storm.Due(ctx); ok {
		t0 = due // open loop: a late start is latency too
	}
	c, oerr := open(ctx, &o.Options, d, acct, ph, false, 4096, 1024)
	if oerr != nil {
		return oerr
	}
	if !o.SkipNoop {
		tn := time.Now()
		if err := c.Noop(); err != nil {
			c.Close()
			return fail("noop", err)
		}
		ph.Noop.RecordDuration(time.Since(tn))
	}
	tl := time.Now()
	if err := c.Logout(o.Linger); err != nil {
		return fail("logout", err)
	}
	now := time.Now()
	ph.Logout.RecordDuration(now.Sub(tl))
	ph.Total.RecordDuration(now.Sub(t0))
	return nil
}
