package imapload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapclient"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// IdleOptions configure the idle scenario: open Conns sessions (logged in,
// or only greeted with Preauth), Concurrency at a time, hold them all for
// Hold, check that they still answer NOOP (unless SkipCheck), close them.
type IdleOptions struct {
	Options
	Conns     int
	Hold      time.Duration
	Preauth   bool
	SkipCheck bool
}

// RunIdle runs the idle scenario. The target is sampled at "start", when
// every session is open ("established") and at the end of the hold
// ("held").
func RunIdle(ctx context.Context, o IdleOptions) (*Result, error) {
	d, err := o.dialer()
	if err != nil {
		return nil, err
	}
	if o.Conns <= 0 || o.Conns > MaxConns {
		return nil, fmt.Errorf("conns %d: want 1..%d", o.Conns, MaxConns)
	}
	if o.Hold < 0 {
		o.Hold = 0
	}
	if o.Hold > MaxDuration {
		o.Hold = MaxDuration
	}
	var (
		ph          Phases
		errs        stats.Errors
		established atomic.Int64
		next        atomic.Int64
		wg          sync.WaitGroup
	)
	held := make([]*imapclient.Client, o.Conns)
	smp := stats.NewRunSampling(o.Sampler)
	smp.Take("start")
	res := &Result{Scenario: "idle", Target: o.Target, TLS: o.TLS, Auth: o.Auth, Concurrency: o.Concurrency,
		Sources: o.Sources, Started: time.Now(), Conns: o.Conns, Preauth: o.Preauth, Alive: -1}
	if o.Preauth {
		res.Auth = ""
	}

	// Open.
	stopProgress := startProgress(&o.Options, func(time.Duration) string {
		return fmt.Sprintf("opening: established %d/%d, errors %d", established.Load(), o.Conns, errs.Total())
	})
	stopTimeline := stats.StartTimeline(o.Timeline, o.Sampler, established.Load, errs.Total, nil, &ph.Total)
	t0 := time.Now()
	for w := 0; w < min(o.Concurrency, o.Conns); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(o.Conns) {
					return
				}
				ts := time.Now()
				c, oerr := open(ctx, &o.Options, d, o.Accounts[i%int64(len(o.Accounts))], &ph, o.Preauth, 1024, 512)
				if oerr != nil {
					if ctx.Err() == nil {
						errs.Add(oerr.kind())
					}
					continue
				}
				ph.Total.RecordDuration(time.Since(ts))
				c.SetDeadline(time.Time{})
				held[i] = c
				established.Add(1)
			}
		}()
	}
	wg.Wait()
	stopProgress()
	openWall := time.Since(t0)
	res.Established = int(established.Load())
	smp.Take("established")

	// Hold.
	th := time.Now()
	if o.Hold > 0 && ctx.Err() == nil {
		stopProgress = startProgress(&o.Options, func(time.Duration) string {
			return fmt.Sprintf("holding %d sessions, %.0f s left", res.Established, max(0, (o.Hold-time.Since(th)).Seconds()))
		})
		select {
		case <-ctx.Done():
		case <-time.After(o.Hold):
		}
		stopProgress()
	}
	res.HoldSeconds = time.Since(th).Seconds()
	smp.Take("held")

	// Check and close.
	if !o.SkipCheck && ctx.Err() == nil {
		var alive atomic.Int64
		next.Store(0)
		for w := 0; w < min(o.Concurrency, o.Conns); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(o.Conns) {
						return
					}
					c := held[i]
					if c == nil {
						continue
					}
					c.SetDeadline(time.Now().Add(o.Timeout))
					if err := c.Noop(); err == nil {
						alive.Add(1)
					} else {
						errs.Add((&opError{"check", err}).kind())
					}
				}
			}()
		}
		wg.Wait()
		res.Alive = int(alive.Load())
	}
	for _, c := range held {
		if c != nil {
			c.Close()
		}
	}
	res.Timeline = stopTimeline()

	res.WallSeconds = time.Since(t0).Seconds()
	res.Ops = int64(res.Established)
	res.Errors = errs.Total()
	res.ErrorsByKind = errs.Sorted()
	res.OpsPerSec = float64(res.Established) / openWall.Seconds()
	res.Latency = ph.Total.Summarize()
	res.LatencyCDF = ph.Total.Quantiles(nil)
	res.Phases = ph.Summaries(o.TLS, o.Preauth)
	res.SetCost(smp, "established")
	if res.Established == 0 && res.Errors > 0 {
		return res, errors.New("no session could be established")
	}
	return res, nil
}
