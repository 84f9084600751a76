// Package progress prints a scenario's progress line at a fixed interval
// while it runs.
package progress

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/internal/ticker"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// Start prints "[elapsed s] " and line's text to w every interval until
// the returned function is called; that function returns once nothing
// more is written. With w nil nothing is printed.
func Start(w io.Writer, every time.Duration, line func(elapsed time.Duration) string) (stop func()) {
	if w == nil {
		return func() {}
	}
	t0 := time.Now()
	return ticker.Every(every, func() bool {
		el := time.Since(t0)
		fmt.Fprintf(w, "[%6.1fs] %s\n", el.Seconds(), line(el))
		return true
	})
}

// Ops returns the line of a storm of operations: "ok N (rate/s), errors
// N, p99 X ms", the rate since the last line, p99 of total.
func Ops(ok *atomic.Int64, errs *stats.Errors, total *stats.Histogram) func(elapsed time.Duration) string {
	var last int64
	var lastT time.Duration
	return func(el time.Duration) string {
		n := ok.Load()
		rate := float64(n-last) / (el - lastT).Seconds()
		last, lastT = n, el
		return fmt.Sprintf("ok %d (%.0f/s), errors %d, p99 %.3f ms", n, rate, errs.Total(), float64(total.Percentile(99))/1e6)
	}
}
