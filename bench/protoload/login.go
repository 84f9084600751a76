package protoload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
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
func (r *Result) WriteJSON(path string) error { return writeJSON(path, r) }

// phases holds one histogram per step of a session.
type phases struct {
	connect, tls, auth, noop, logout, total stats.Histogram
}

// opError is a failure and the step it happened in.
type opError struct {
	phase string
	err   error
}

func (e *opError) Error() string { return e.phase + ": " + e.err.Error() }

func (e *opError) kind() string {
	var se *StatusError
	if errors.As(e.err, &se) {
		return e.phase + ": " + se.Kind()
	}
	return e.phase + ": " + stats.Classify(e.err)
}

func fail(phase string, err error) *opError { return &opError{phase, err} }

// RunLogin runs a login storm against o.Target.
func RunLogin(ctx context.Context, o Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	d, err := newDialer(&o)
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
	smp := newSampling(o.Sampler)
	smp.take("start")
	res := &Result{Protocol: o.Protocol, Result: imapload.Result{
		Scenario: "login", Target: o.Target, TLS: o.TLS, Auth: o.Auth,
		Concurrency: o.Concurrency, Sources: o.Sources, Started: time.Now(),
	}}
	stopProgress := startProgress(&o, &ok, &errs, &ph)
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
				if oe := loginOnce(ctx, &o, d, acct, &ph); oe != nil {
					if oe.phase == "connect" && (ctx.Err() != nil || !time.Now().Before(end)) {
						return // cancelled while dialing: not a failure
					}
					errs.Add(oe.kind())
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
	smp.take("end")

	res.WallSeconds = wall.Seconds()
	res.Ops = ok.Load()
	res.Errors = errs.Total()
	res.ErrorsByKind = errs.Sorted()
	res.OpsPerSec = float64(res.Ops) / wall.Seconds()
	res.Latency = ph.total.Summarize()
	res.LatencyCDF = ph.total.Quantiles(nil)
	res.Phases = ph.summaries(&o)
	smp.finish(&res.Result)
	return res, nil
}

// loginOnce is one operation. Phases: connect = TCP + greeting (+ EHLO
// for submission), tls (implicit), auth, noop, logout = QUIT/LOGOUT and
// its answer plus the wait for the server's close.
func loginOnce(ctx context.Context, o *Options, d *dialer, acct imapload.Account, ph *phases) *opError {
	t0 := time.Now()
	nc, err := d.dial(ctx)
	if err != nil {
		return fail("connect", err)
	}
	_ = nc.SetDeadline(t0.Add(o.Timeout))
	if o.TLS == imapload.TLSImplicit {
		th := time.Now()
		tc := tls.Client(nc, o.TLSConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return fail("tls", err)
		}
		ph.tls.RecordDuration(time.Since(th))
		nc = tc
	}
	c := newConn(nc)
	s := newSession(o.Protocol, c, o.Helo)
	if err := s.greet(); err != nil {
		c.Close()
		return fail("greeting", err)
	}
	ph.connect.RecordDuration(time.Since(t0))
	ta := time.Now()
	if err := s.auth(string(o.Auth), acct.User, acct.Password); err != nil {
		c.Close()
		return fail("auth", err)
	}
	ph.auth.RecordDuration(time.Since(ta))
	if !o.SkipNoop {
		tn := time.Now()
		if err := s.noop(); err != nil {
			c.Close()
			return fail("noop", err)
		}
		ph.noop.RecordDuration(time.Since(tn))
	}
	tl := time.Now()
	if err := s.logout(); err != nil {
		c.Close()
		return fail("logout", err)
	}
	c.closeAfter(o.Linger)
	now := time.Now()
	ph.logout.RecordDuration(now.Sub(tl))
	ph.total.RecordDuration(now.Sub(t0))
	return nil
}

// startProgress prints a line every o.ProgressEvery until the returned
// function is called; that function returns once nothing more is written.
func startProgress(o *Options, ok *atomic.Int64, errs *stats.Errors, ph *phases) (stop func()) {
	if o.Progress == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t0 := time.Now()
		tk := time.NewTicker(o.ProgressEvery)
		defer tk.Stop()
		var last int64
		var lastT time.Duration
		for {
			select {
			case <-quit:
				return
			case <-tk.C:
				el := time.Since(t0)
				n := ok.Load()
				rate := float64(n-last) / (el - lastT).Seconds()
				last, lastT = n, el
				fmt.Fprintf(o.Progress, "[%6.1fs] %s ok %d (%.0f/s), errors %d, p99 %.3f ms\n",
					el.Seconds(), o.Protocol, n, rate, errs.Total(), float64(ph.total.Percentile(99))/1e6)
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// sampling collects samples of the target and of this process.
type sampling struct {
	target  *stats.Sampler
	self    stats.Sampler
	samples []stats.ProcSample
	selfA   stats.ProcSample
	err     error
}

func newSampling(t *stats.Sampler) *sampling {
	s := &sampling{target: t, self: stats.Sampler{PID: os.Getpid()}}
	s.selfA, _ = s.self.Sample("start")
	return s
}

func (s *sampling) take(label string) {
	if s.target == nil || s.target.PID <= 0 {
		return
	}
	smp, err := s.target.Sample(label)
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	s.samples = append(s.samples, smp)
}

// finish fills the process fields of r.
func (s *sampling) finish(r *imapload.Result) {
	if b, err := s.self.Sample("end"); err == nil && s.selfA.Label != "" {
		d := stats.Delta(s.selfA, b)
		r.BenchCPU = &d
	}
	if s.err != nil {
		r.SamplerError = s.err.Error()
	}
	r.TargetSamples = s.samples
	if len(s.samples) < 2 {
		return
	}
	first, last := s.samples[0], s.samples[len(s.samples)-1]
	d := stats.Delta(first, last)
	c := &imapload.Cost{
		CPUSeconds:  d.CPUSeconds,
		CPUPercent:  d.CPUPercent,
		RSSStartKiB: first.RSSKiB,
		RSSEndKiB:   last.RSSKiB,
		RSSPeakKiB:  last.HWMKiB,
	}
	if r.Ops > 0 {
		c.CPUMicrosPerOp = d.CPUSeconds * 1e6 / float64(r.Ops)
	}
	r.TargetCost = c
}
