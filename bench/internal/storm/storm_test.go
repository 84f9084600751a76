package storm

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/stats"
)

// TestOpsAtDueTimes: in an open loop operation n is due (n-1)/rate after
// the first, never starts before it is due, and carries its due time; a
// closed loop carries none.
func TestOpsAtDueTimes(t *testing.T) {
	ln := startRun(t)
	const rate, count = 2000.0, 40
	var (
		mu    sync.Mutex
		due   = map[int64]time.Time{}
		early []int64
		ok    atomic.Int64
		errs  stats.Errors
	)
	ln.OpsAt(rate, 8, count, &ok, &errs, func(ctx context.Context, n int64) error {
		now := time.Now()
		d, has := Due(ctx)
		mu.Lock()
		defer mu.Unlock()
		if !has {
			t.Errorf("op %d: no due time in an open loop", n)
			return nil
		}
		due[n] = d
		if now.Before(d) {
			early = append(early, n)
		}
		return nil
	}, func(error) (string, string) { return "", "other" })
	if ok.Load() != count || len(due) != count {
		t.Fatalf("%d ok, %d due times, want %d", ok.Load(), len(due), count)
	}
	if len(early) > 0 {
		t.Errorf("ops started before they were due: %v", early)
	}
	for n := int64(2); n <= count; n++ {
		want := time.Duration(float64(n-1) / rate * float64(time.Second))
		if got := due[n].Sub(due[1]); got != want {
			t.Errorf("op %d due %v after the first, want %v", n, got, want)
		}
	}

	closed := startRun(t)
	closed.Ops(2, 5, &ok, &errs, func(ctx context.Context, n int64) error {
		if _, has := Due(ctx); has {
			t.Errorf("closed loop op %d has a due time", n)
		}
		return nil
	}, func(error) (string, string) { return "", "other" })
}

func startRun(t *testing.T) *Run {
	t.Helper()
	r, err := Start(context.Background(), "127.0.0.1:1", 0, time.Second, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}
