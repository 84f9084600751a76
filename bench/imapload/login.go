package imapload

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/internal/progress"
	"github.com/switchyard-mail/switchyard/bench/internal/sources"
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
	if o.Duration <= 0 && o.Count <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Duration > MaxDuration {
		o.Duration = MaxDuration
	}
	if o.Count > MaxCount {
		o.Count = MaxCount
	}
	if o.Duration <= 0 {
		o.Duration = MaxDuration
	}
	if o.Linger <= 0 {
		o.Linger = time.Second
	}
	d, err := sources.NewDialer(o.Target, o.Sources, o.Timeout)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	// A dial cut by the deadline may fail a moment before ctx.Err is set.
	end, _ := ctx.Deadline()

	var (
		ph      phases
		errs    stats.Errors
		ok      atomic.Int64
		started atomic.Int64
		wg      sync.WaitGroup
	)
	smp := stats.NewRunSampling(o.Sampler)
	smp.Take("start")
	res := &Result{Scenario: "login", Target: o.Target, TLS: o.TLS, Auth: o.Auth, Concurrency: o.Concurrency, Sources: o.Sources, Started: time.Now()}
	stopProgress := startProgress(&o.Options, progress.Ops(&ok, &errs, &ph.total))
	stopTimeline := stats.StartTimeline(o.Timeline, o.Sampler, ok.Load, errs.Total, nil, &ph.total)
	t0 := time.Now()
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := started.Add(1)
				if o.Count > 0 && n > o.Count {
					return
				}
				acct := o.Accounts[(n-1)%int64(len(o.Accounts))]
				if err := loginOnce(ctx, &o, d, acct, &ph); err != nil {
					var oe *opError
					if errors.As(err, &oe) && oe.phase == "connect" && (ctx.Err() != nil || !time.Now().Before(end)) {
						return // cancelled while dialing: not a failure
					}
					if errors.As(err, &oe) {
						errs.Add(oe.kind())
					} else {
						errs.Add("other")
					}
					time.Sleep(time.Millisecond) // do not spin on a dead target
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	res.Timeline = stopTimeline()
	stopProgress()
	wall := time.Since(t0)
	smp.Take("end")

	res.SetCounts(wall, ok.Load(), &errs, &ph.total)
	res.Phases = ph.summaries(&o.Options, false)
	res.SetCost(smp, "")
	return res, nil
}

func loginOnce(ctx context.Context, o *LoginOptions, d *sources.Dialer, acct Account, ph *phases) error {
	t0 := time.Now()
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
		ph.noop.RecordDuration(time.Since(tn))
	}
	tl := time.Now()
	if err := c.Logout(o.Linger); err != nil {
		return fail("logout", err)
	}
	now := time.Now()
	ph.logout.RecordDuration(now.Sub(tl))
	ph.total.RecordDuration(now.Sub(t0))
	return nil
}
