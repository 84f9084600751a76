package protoload

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/internal/sources"
	"github.com/switchyard-mail/switchyard/bench/internal/storm"
	"github.com/switchyard-mail/switchyard/bench/protoload/internal/run"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// Result is imapload's result (same JSON fields, so the same summarisers
// read it) with the protocol added.
type Result struct {
	Protocol Protocol `json:"protocol"`
	imapload.Result
}

// WriteText prints the protocol, then imapload's table.
func (r *Result) WriteText(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "protocol      %s\n", r.Protocol); err != nil {
		return err
	}
	return r.Result.WriteText(w)
}

// WriteJSON writes r, indented, to path (imapload's fields and
// "protocol").
func (r *Result) WriteJSON(path string) error { return run.WriteJSON(path, r) }

// RunLogin runs a login storm against o.Target.
func RunLogin(ctx context.Context, o Options) (*Result, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	r, err := storm.Start(ctx, o.Target, o.Sources, o.Timeout, o.Duration)
	if err != nil {
		return nil, err
	}
	defer r.Stop()

	var (
		ph   imapload.Phases
		errs stats.Errors
		ok   atomic.Int64
	)
	smp := stats.NewRunSampling(o.Sampler)
	smp.Take("start")
	res := &Result{Protocol: o.Protocol, Result: imapload.Result{
		Scenario: "login", Target: o.Target, TLS: o.TLS, Auth: o.Auth,
		Concurrency: o.Concurrency, Sources: o.Sources, Started: time.Now(),
	}}
	stopProgress := run.StartProgress(o.Progress, o.ProgressEvery, string(o.Protocol), &ok, &errs, &ph.Total)
	stopTimeline := stats.StartTimeline(o.Timeline, o.Sampler, ok.Load, errs.Total, nil, &ph.Total)
	t0 := time.Now()
	r.Ops(o.Concurrency, o.Count, &ok, &errs, func(ctx context.Context, n int64) error {
		if oe := loginOnce(ctx, &o, r.Dialer, o.Accounts[(n-1)%int64(len(o.Accounts))], &ph); oe != nil {
			return oe
		}
		return nil
	}, func(err error) (string, string) {
		oe := err.(*run.OpError)
		return oe.Phase, oe.Kind()
	})
	wall, timeline := storm.Finish(t0, stopTimeline, stopProgress, smp)
	res.Timeline = timeline

	res.Result.SetCounts(wall, ok.Load(), &errs, &ph.Total)
	res.Phases = ph.Summaries(o.TLS, false)
	res.Result.SetCost(smp, "")
	return res, nil
}

// loginOnce is one operation. Phases: connect = TCP + greeting (+ EHLO
// for submission), tls (implicit), auth, noop, logout = QUIT/LOGOUT and
// its answer plus the wait for the server's close.
func loginOnce(ctx context.Context, o *Options, d *sources.Dialer, acct imapload.Account, ph *imapload.Phases) *run.OpError {
	t0 := time.Now()
	nc, oe := run.Dial(ctx, d, o.Timeout, o.TLS == imapload.TLSImplicit, o.TLSConfig, &ph.TLS)
	if oe != nil {
		return oe
	}
	c := newConn(nc)
	s := newSession(o.Protocol, c, o.Helo)
	if err := s.greet(); err != nil {
		c.Close()
		return run.Fail("greeting", err)
	}
	ph.Connect.RecordDuration(time.Since(t0))
	ta := time.Now()
	if err := s.auth(string(o.Auth), acct.User, acct.Password); err != nil {
		c.Close()
		return run.Fail("auth", err)
	}
	ph.Auth.RecordDuration(time.Since(ta))
	if !o.SkipNoop {
		tn := time.Now()
		if err := s.command("NOOP"); err != nil {
			c.Close()
			return run.Fail("noop", err)
		}
		ph.Noop.RecordDuration(time.Since(tn))
	}
	tl := time.Now()
	if err := s.command(logoutCommand(o.Protocol)); err != nil {
		c.Close()
		return run.Fail("logout", err)
	}
	c.closeAfter(o.Linger)
	now := time.Now()
	ph.Logout.RecordDuration(now.Sub(tl))
	ph.Total.RecordDuration(now.Sub(t0))
	return nil
}
