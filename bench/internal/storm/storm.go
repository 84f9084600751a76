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
// number, counting from 1. A success is counted in ok. A failure is
// counted in errs under the kind that classify names, and the worker
// pauses a millisecond so as not to spin on a dead target; a dial cut
// short by the end of the run (Cancelled) ends the worker uncounted. Ops
// returns once every worker has.
func (r *Run) Ops(concurrency int, count int64, ok *atomic.Int64, errs *stats.Errors,
	op func(ctx context.Context, n int64) error, classify func(error) (phase, kind string)) {
	var started atomic.Int64
	Workers(concurrency, func() {
		for r.Ctx.Err() == nil {
			n := started.Add(1)
			if count > 0 && n > count {
				return
			}
			if err := op(r.Ctx, n); err != nil {
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
