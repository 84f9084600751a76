package mixload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapclient"
	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/internal/progress"
	"github.com/switchyard-mail/switchyard/bench/protoload"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// job is one scheduled operation: its number and when it was due.
type job struct {
	n  int64
	at time.Time
}

// worker is one client of a component; it runs the component's
// operations one at a time and counts its failures in errs.
type worker interface {
	// do runs operation n and reports whether it succeeded.
	do(ctx context.Context, n int64) bool
	close()
}

// component is one kind of operation at a rate, open loop: a dispatcher
// queues jobs at Poisson arrival times, a bounded pool of workers takes
// them; a job that finds the queue full is shed.
type component struct {
	name, proto, target string
	rate                float64
	workers             []worker
	queue               chan job
	lat                 stats.Histogram // due time to the end of the operation
	ok, shed, bytes     atomic.Int64
	errs                *stats.Errors
	phases              func() map[string]stats.Summary
	fill                func(*Component)
	perConn             int // deliveries: messages per connection
	stopTimeline        func() []stats.Point
	points              []stats.Point
}

func (c *component) dispatch(ctx context.Context, rng *rand.Rand, start, end time.Time) {
	defer close(c.queue)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	next := start
	for n := int64(0); ; {
		next = next.Add(time.Duration(rng.ExpFloat64() / c.rate * float64(time.Second)))
		if !next.Before(end) {
			return
		}
		if d := time.Until(next); d > 0 {
			t.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		select {
		case c.queue <- job{n, next}:
			n++
		default:
			c.shed.Add(1)
		}
	}
}

// maxQueue bounds a component's queue of arrivals.
const maxQueue = 100_000

func (c *component) serve(ctx context.Context, w worker) {
	for j := range c.queue {
		if ctx.Err() != nil {
			c.shed.Add(1) // due but never started: the run is over
			continue
		}
		if w.do(ctx, j.n) {
			c.lat.RecordDuration(time.Since(j.at))
			c.ok.Add(1)
		}
	}
}

// loginWorker runs IMAP, POP3 or submission login operations.
type loginWorker struct {
	c     *component
	imap  *imapload.Op
	proto *protoload.LoginOp
	accts []imapload.Account
	o     *Options
	off   int64
}

func (w *loginWorker) do(ctx context.Context, n int64) bool {
	acct := w.accts[(n+w.off)%int64(len(w.accts))]
	var err error
	var kind string
	if w.imap != nil {
		err = w.imap.Login(ctx, acct, false, w.o.Linger)
		if err != nil {
			kind = imapload.ErrorKind("login", err)
		}
	} else {
		err = w.proto.Do(ctx, acct)
		if err != nil {
			kind = protoload.ErrorKind("login", err)
		}
	}
	if err == nil {
		return true
	}
	if !(over(ctx) && strings.HasPrefix(kind, "connect:")) {
		w.c.errs.Add(kind)
	}
	return false
}

// over tells whether the run has ended: a dial cut by its deadline fails
// a moment before ctx.Err is set, and is the end of the run, not a failure.
func over(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func (w *loginWorker) close() {}

// fetchWorker keeps one logged-in session with INBOX selected and fetches
// message 1 on it; after a failure it logs in again at the next job.
type fetchWorker struct {
	c    *component
	op   *imapload.Op
	acct imapload.Account
	o    *Options
	cl   *imapclient.Client
}

func (w *fetchWorker) open(ctx context.Context) error {
	c, err := w.op.Open(ctx, w.acct)
	if err != nil {
		return err
	}
	if _, err := c.Select("INBOX"); err != nil {
		c.Close()
		return &phaseError{"select", err}
	}
	w.cl = c
	return nil
}

// phaseError names the step of an error from imapclient.
type phaseError struct {
	phase string
	err   error
}

func (e *phaseError) Error() string { return e.phase + ": " + e.err.Error() }
func (e *phaseError) Unwrap() error { return e.err }

func imapKind(phase string, err error) string {
	var pe *phaseError
	if errors.As(err, &pe) {
		return imapload.ErrorKind(pe.phase, pe.err)
	}
	return imapload.ErrorKind(phase, err)
}

func (w *fetchWorker) do(ctx context.Context, n int64) bool {
	if w.cl == nil {
		if err := w.open(ctx); err != nil {
			if !over(ctx) {
				w.c.errs.Add(imapKind("login", err))
			}
			return false
		}
	}
	w.cl.SetDeadline(time.Now().Add(w.o.Timeout))
	r, err := w.cl.Fetch(false, "1", "BODY[]", false)
	if err != nil {
		w.c.errs.Add(imapload.ErrorKind("fetch", err))
		w.cl.Close()
		w.cl = nil
		return false
	}
	w.c.bytes.Add(r.LiteralBytes)
	return true
}

func (w *fetchWorker) close() {
	if w.cl != nil {
		w.cl.SetDeadline(time.Now().Add(w.o.Timeout))
		w.cl.Logout(0)
		w.cl = nil
	}
}

// deliverWorker sends messages over one protoload.DeliverConn.
type deliverWorker struct {
	conn *protoload.DeliverConn
}

func (w *deliverWorker) do(ctx context.Context, n int64) bool { return w.conn.Send(ctx, n) }
func (w *deliverWorker) close()                               { w.conn.Close() }

// idleSet is the population of IMAP sessions in IDLE.
type idleSet struct {
	op          *imapload.Op
	sessions    []*imapclient.Client
	open        stats.Histogram // connect to "+ idling"
	errs        stats.Errors
	established atomic.Int64
	alive       int
	openSeconds float64
}

// openAll opens n sessions, conc at a time: log in, SELECT INBOX, IDLE.
func (s *idleSet) openAll(ctx context.Context, o *Options) {
	n := o.Idle
	s.sessions = make([]*imapclient.Client, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range min(o.IdleConcurrency, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				ts := time.Now()
				c, err := s.op.Open(ctx, o.Accounts[i%int64(len(o.Accounts))])
				if err == nil {
					if _, err = c.Select("INBOX"); err != nil {
						err = &phaseError{"select", err}
					} else if err = c.Idle(); err != nil {
						err = &phaseError{"idle", err}
					}
					if err != nil {
						c.Close()
					}
				}
				if err != nil {
					if !over(ctx) {
						s.errs.Add(imapKind("login", err))
					}
					continue
				}
				s.open.RecordDuration(time.Since(ts))
				c.SetDeadline(time.Time{})
				s.sessions[i] = c
				s.established.Add(1)
			}
		}()
	}
	wg.Wait()
	s.openSeconds = time.Since(t0).Seconds()
}

// closeAll ends IDLE on every session (DONE must be answered OK: the
// session survived the run), logs out and closes, conc at a time.
func (s *idleSet) closeAll(o *Options, check bool) {
	var next atomic.Int64
	var alive atomic.Int64
	var wg sync.WaitGroup
	for range min(o.IdleConcurrency, len(s.sessions)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(s.sessions)) {
					return
				}
				c := s.sessions[i]
				if c == nil {
					continue
				}
				c.SetDeadline(time.Now().Add(o.Timeout))
				if check {
					if err := c.IdleDone(); err != nil {
						s.errs.Add(imapload.ErrorKind("check", err))
						c.Close()
						continue
					}
					alive.Add(1)
					c.Logout(0)
					continue
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	s.alive = int(alive.Load())
}

// Run runs the mixed scenario: opens the idle sessions (and the fetch and
// LMTP clients), then runs every component for o.Duration, then checks
// and closes the idle sessions. The target is sampled at "start",
// "established" (everything open) and "end" (measured phase over).
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	seed := o.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	imapOpts := imapload.Options{Target: o.IMAP, TLS: imapload.TLSNone, Auth: imapload.AuthPlain, Accounts: o.Accounts,
		Sources: o.Sources, Timeout: o.Timeout, Concurrency: 1}
	res := &Result{Scenario: "mixed", Users: o.Users, Started: time.Now(), MessageSize: o.MessageSize}

	var comps []*component
	add := func(c *component) { comps = append(comps, c) }
	loginRates := splitRate(o.LoginRate, o.LoginMix)

	// Components.
	var idle *idleSet
	if o.IMAP != "" && o.Idle > 0 {
		op, err := imapload.NewOp(imapOpts)
		if err != nil {
			return nil, err
		}
		idle = &idleSet{op: op}
	}
	if o.IMAP != "" && loginRates[0] > 0 {
		op, err := imapload.NewOp(imapOpts)
		if err != nil {
			return nil, err
		}
		c := &component{name: "login-imap", proto: "imap", target: o.IMAP, rate: loginRates[0], errs: new(stats.Errors), phases: op.Phases}
		for i := range o.LoginClients {
			c.workers = append(c.workers, &loginWorker{c: c, imap: op, accts: o.Accounts, o: &o, off: int64(i)})
		}
		add(c)
	}
	for i, p := range []struct {
		proto  protoload.Protocol
		target string
	}{{protoload.POP3, o.POP3}, {protoload.Submission, o.Submission}} {
		if p.target == "" || loginRates[i+1] <= 0 {
			continue
		}
		op, err := protoload.NewLoginOp(protoload.Options{Protocol: p.proto, Target: p.target, Accounts: o.Accounts,
			Run: protoload.Run{Sources: o.Sources, Timeout: o.Timeout, Linger: o.Linger, Concurrency: 1}})
		if err != nil {
			return nil, err
		}
		c := &component{name: "login-" + string(p.proto), proto: string(p.proto), target: p.target, rate: loginRates[i+1],
			errs: new(stats.Errors), phases: op.Phases}
		for range o.LoginClients {
			c.workers = append(c.workers, &loginWorker{c: c, proto: op, accts: o.Accounts, o: &o})
		}
		add(c)
	}
	if o.IMAP != "" && o.FetchRate > 0 {
		op, err := imapload.NewOp(imapOpts)
		if err != nil {
			return nil, err
		}
		c := &component{name: "fetch-imap", proto: "imap", target: o.IMAP, rate: o.FetchRate, errs: new(stats.Errors), phases: op.Phases}
		for i := range o.FetchClients {
			// The fetch sessions use the last accounts, the idle ones the first.
			acct := o.Accounts[(len(o.Accounts)-1-i%len(o.Accounts)+len(o.Accounts))%len(o.Accounts)]
			c.workers = append(c.workers, &fetchWorker{c: c, op: op, acct: acct, o: &o})
		}
		add(c)
	}
	for _, p := range []struct {
		proto   protoload.Protocol
		target  string
		rate    float64
		perConn int
	}{{protoload.LMTP, o.LMTP, o.LMTPRate, o.LMTPPerConnection}, {protoload.SMTP, o.SMTP, o.SMTPRate, o.SMTPPerConnection}} {
		if p.target == "" || p.rate <= 0 {
			continue
		}
		d, err := protoload.NewDeliverer(protoload.DeliverOptions{Protocol: p.proto, Target: p.target, Accounts: o.Accounts,
			Domain: o.Domain, MessageSize: o.MessageSize, Recipients: o.Recipients, PerConnection: p.perConn,
			Run: protoload.Run{Sources: o.Sources, Timeout: o.Timeout, Linger: o.Linger, Concurrency: 1}})
		if err != nil {
			return nil, err
		}
		perConn := p.perConn
		c := &component{name: "deliver-" + string(p.proto), proto: string(p.proto), target: p.target, rate: p.rate,
			perConn: perConn, errs: d.Errors(), phases: d.Phases, fill: func(x *Component) {
				x.MessageSize, x.PerConnection, x.Connections, x.Partial = o.MessageSize, perConn, d.Connections(), d.Partial()
			}}
		for range o.DeliverConns {
			c.workers = append(c.workers, &deliverWorker{conn: d.Conn()})
		}
		add(c)
	}
	if idle == nil && len(comps) == 0 {
		return nil, errors.New("nothing to run: no target, or every rate and the idle population are 0")
	}

	smp := stats.NewRunSampling(o.Sampler)
	smp.Take("start")

	// Ramp: the idle population, the fetch sessions, the LMTP connections.
	t0 := time.Now()
	var rampWG sync.WaitGroup
	if idle != nil {
		rampWG.Add(1)
		go func() {
			defer rampWG.Done()
			idle.openAll(ctx, &o)
		}()
	}
	stopRampProgress := startProgress(&o, func() string {
		if idle == nil {
			return "opening clients"
		}
		return fmt.Sprintf("opening: %d/%d idle sessions, %d errors", idle.established.Load(), o.Idle, idle.errs.Total())
	})
	for _, c := range comps {
		for _, w := range c.workers {
			rampWG.Add(1)
			go func() {
				defer rampWG.Done()
				var err error
				switch w := w.(type) {
				case *fetchWorker:
					err = w.open(ctx)
				case *deliverWorker:
					if c.perConn != 1 {
						err = w.conn.Connect(ctx)
					}
				}
				if err != nil && !over(ctx) {
					c.errs.Add("ramp: " + kindOf(c.proto, err))
				}
			}()
		}
	}
	rampWG.Wait()
	stopRampProgress()
	res.RampSeconds = time.Since(t0).Seconds()
	smp.Take("established")

	// Measured phase.
	mctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	start := time.Now()
	end := start.Add(o.Duration)
	total := func() (n int64) {
		for _, c := range comps {
			n += c.ok.Load()
		}
		return n
	}
	totalErrs := func() (n int64) {
		for _, c := range comps {
			n += c.errs.Total()
		}
		return n
	}
	stopTimeline := stats.StartTimeline(o.Timeline, o.Sampler, total, totalErrs, nil, nil)
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(seed, 0x6d69786c6f6164))
	for i, c := range comps {
		// The queue holds a second of arrivals (at least one per client):
		// a stall of the target shows as latency; only a sustained
		// overload sheds.
		c.queue = make(chan job, min(max(len(c.workers), int(c.rate)), maxQueue))
		c.stopTimeline = stats.StartTimeline(o.Timeline, nil, c.ok.Load, c.errs.Total, c.bytes.Load, &c.lat)
		for _, w := range c.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.serve(mctx, w)
			}()
		}
		wg.Add(1)
		crng := rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))
		go func() {
			defer wg.Done()
			c.dispatch(mctx, crng, start, end)
		}()
	}
	stopProgress := startProgress(&o, func() string {
		var parts []string
		for _, c := range comps {
			parts = append(parts, fmt.Sprintf("%s %d", c.name, c.ok.Load()))
		}
		return fmt.Sprintf("%s; errors %d", strings.Join(parts, ", "), totalErrs())
	})
	if len(comps) == 0 {
		<-mctx.Done()
	}
	wg.Wait()
	wall := time.Since(start)
	res.Timeline = stopTimeline()
	for _, c := range comps {
		c.points = c.stopTimeline()
	}
	stopProgress()
	smp.Take("end")

	// Close: the clients, then the idle sessions (checked unless the run
	// was interrupted).
	var cwg sync.WaitGroup
	for _, c := range comps {
		for _, w := range c.workers {
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				w.close()
			}()
		}
	}
	cwg.Wait()
	if idle != nil {
		idle.closeAll(&o, ctx.Err() == nil)
	}

	res.WallSeconds = wall.Seconds()
	if idle != nil {
		ic := Component{Name: "idle-imap", Protocol: "imap", Target: o.IMAP, Clients: o.IdleConcurrency,
			Sessions: o.Idle, Established: int(idle.established.Load()), Alive: idle.alive,
			OpenSeconds: idle.openSeconds, Latency: idle.open.Summarize(), LatencyCDF: idle.open.Quantiles(nil),
			Phases: idle.op.Phases(), Errors: idle.errs.Total(), ErrorsByKind: idle.errs.Sorted()}
		ic.Ops = int64(ic.Established)
		if idle.openSeconds > 0 {
			ic.OpsPerSec = float64(ic.Established) / idle.openSeconds
		}
		res.Components = append(res.Components, ic)
	}
	for _, c := range comps {
		x := Component{Name: c.name, Protocol: c.proto, Target: c.target, RatePerSec: c.rate, Clients: len(c.workers),
			Ops: c.ok.Load(), Errors: c.errs.Total(), ErrorsByKind: c.errs.Sorted(), Shed: c.shed.Load(),
			OpsPerSec: float64(c.ok.Load()) / wall.Seconds(), Latency: c.lat.Summarize(), LatencyCDF: c.lat.Quantiles(nil),
			Phases: c.phases(), Timeline: c.points, Bytes: c.bytes.Load()}
		if c.fill != nil {
			c.fill(&x)
		}
		res.Ops += x.Ops
		res.Errors += x.Errors
		res.Components = append(res.Components, x)
	}
	if len(res.Components) > 0 && res.Components[0].Name == "idle-imap" {
		res.Errors += res.Components[0].Errors
	}
	res.OpsPerSec = float64(res.Ops) / wall.Seconds()
	finishCost(smp, res, idle)
	if idle != nil && idle.established.Load() == 0 && o.Idle > 0 && res.Ops == 0 {
		return res, errors.New("no idle session could be established and no operation succeeded")
	}
	return res, nil
}

func kindOf(proto string, err error) string {
	switch proto {
	case "imap":
		return imapKind("login", err)
	default:
		return protoload.ErrorKind("connect", err)
	}
}

// splitRate divides total by the weights.
func splitRate(total float64, w [3]float64) [3]float64 {
	sum := w[0] + w[1] + w[2]
	var out [3]float64
	if sum <= 0 || total <= 0 {
		return out
	}
	for i := range w {
		out[i] = total * w[i] / sum
	}
	return out
}

// startProgress prints a line every o.ProgressEvery until stop is called; stop
// returns once nothing more is written.
func startProgress(o *Options, line func() string) (stop func()) {
	return progress.Start(o.Progress, o.ProgressEvery, func(time.Duration) string { return "mixed: " + line() })
}

// finishCost fills the process fields: the cost of the measured phase
// ("established" to "end") and the memory of the idle population ("start"
// to "established").
func finishCost(s *stats.RunSampling, r *Result, idle *idleSet) {
	if d := s.SelfCPU(); d != nil {
		r.BenchCPU = d
	}
	r.SamplerError = s.SamplerError()
	r.TargetSamples = s.Samples()
	st, ok1 := s.Find("start")
	est, ok2 := s.Find("established")
	end, ok3 := s.Find("end")
	if !ok1 || !ok2 || !ok3 {
		return
	}
	d := stats.Delta(est, end)
	c := &Cost{CPUSeconds: d.CPUSeconds, CPUPercent: d.CPUPercent, RSSStartKiB: st.RSSKiB,
		RSSEstablishedKiB: est.RSSKiB, RSSEndKiB: end.RSSKiB, RSSPeakKiB: end.HWMKiB, FDsStart: st.FDs, FDsEstablished: est.FDs}
	if r.Ops > 0 {
		c.CPUMicrosPerOp = d.CPUSeconds * 1e6 / float64(r.Ops)
	}
	if idle != nil {
		if n := idle.established.Load(); n > 0 {
			c.RSSPerIdleKiB = float64(est.RSSKiB-st.RSSKiB) / float64(n)
		}
	}
	r.TargetCost = c
}
