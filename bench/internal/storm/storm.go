// Package storm is the frame of a timed run of operations: the dialer and
// the context that ends the run, and the workers of a login storm.
package storm

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/internal/sources"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// Run is a run under way.
type Run struct {
	Ctx    context.Context // ends after the run's duration
	Dialer *sources.Dialer
	// End is Ctx's deadline: a dial cut by it may fail a moment before
	// Ctx.Err is set.
	End    time.Time
	cancel context.CancelFunc
}

// Start makes the dialer to target (over sources addresses, timeout per
// dial) and a run of duration under ctx; Stop releases it.
func Start(ctx context.Context, target string, srcs int, timeout, duration time.Duration) (*Run, error) {
	d, err := sources.NewDialer(target, srcs, timeout)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, duration)
	end, _ := ctx.Deadline()
	return &Run{Ctx: ctx, Dialer: d, End: end, cancel: cancel}, nil
}

// Stop ends the run's context.
func (r *Run) Stop() { r.cancel() }

// Cancelled tells whether a failure to connect is the run ending under a
// dial rather than a failure.
func (r *Run) Cancelled(phase string) bool {
	return phase == "connect" && (r.Ctx.Err() != nil || !time.Now().Before(r.End))
}

// Ops runs concurrency workers, each calling op until the run ends or
// count operations were started (0: no bound); op gets the operation's
// number, counting from 1. With rate > 0 the run is open-loop: operation
// n is due at rate per second from the start whatever the target's
// answers, a worker waits until it is due, and op's ctx carries the due
// time (Due) so that its latency counts from then: a target that stalls
// is charged the wait of the operations queued behind it (no coordinated
// omission), as long as concurrency covers rate × latency. A success is counted in ok. A failure is
// counted in errs under the kind that classify names, and the worker
// pauses a millisecond so as not to spin on a dead target; a dial cut
// short by the end of the run (Cancelled) ends the worker uncounted. Ops
// returns once every worker has.
func (r *Run) Ops(concurrency int, count int64, ok *atomic.Int64, errs *stats.Errors,
	op func(ctx context.Context, n int64) error, classify func(error) (phase, kind string)) {
	r.OpsAt(0, concurrency, count, ok, errs, op, classify)
}

// OpsAt is Ops at a rate per second (0: closed loop, as Ops).
func (r *Run) OpsAt(rate float64, concurrency int, count int64, ok *atomic.Int64, errs *stats.Errors,
	op func(ctx context.Context, n int64) error, classify func(error) (phase, kind string)) {
	var started atomic.Int64
	t0 := time.Now()
	Workers(concurrency, func() {
		for r.Ctx.Err() == nil {
			n := started.Add(1)
			if count > 0 && n > count {
				return
			}
			ctx := r.Ctx
			if rate > 0 {
				due := t0.Add(time.Duration(float64(n-1) / rate * float64(time.Second)))
				if !due.Before(r.End) {
					return
				}
				if wait := time.Until(due); wait > 0 {
					select {
					case <-time.After(wait):
					case <-r.Ctx.Done():
						return
					}
				}
				ctx = context.WithValue(ctx, dueKey{}, due)
			}
			if err := op(ctx, n); err != nil {
				phase, kind := classify(err)
				if r.Cancelled(phase) {
					return // cancelled while dialing: not a failure
				}
				errs.Add(kind)
				time.Sleep(time.Millisecond) // do not spin on a dead target
				continue
			}
			ok.Add(1)
		}
	})
}

type dueKey struct{}

// Due is when an open-loop operation was due (OpsAt); false in a closed
// loop, where an operation is due when it starts.
func Due(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(dueKey{}).(time.Time)
	return t, ok
}

// Workers runs work on n goroutines and returns once every one has.
func Workers(n int, work func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	wg.Wait()
}

// Finish ends the watching of a run whose work started at t0: it stops
// the timeline, then the progress line, and takes the target's "end"
// sample; wall is the time from t0 to just before that sample.
func Finish(t0 time.Time, stopTimeline func() []stats.Point, stopProgress func(), smp *stats.RunSampling) (wall time.Duration, timeline []stats.Point) {
	timeline = stopTimeline()
	stopProgress()
	wall = time.Since(t0)
	smp.Take("end")
	return wall, timeline
}
