package stats

import (
	"os"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestSnapshotSub(t *testing.T) {
	var h Histogram
	for v := int64(1); v <= 1000; v++ {
		h.Record(v * 1000)
	}
	a := h.Snapshot()
	if a.Count() != 1000 || a.Max() != h.Max() || a.Percentile(50) != h.Percentile(50) {
		t.Fatalf("snapshot: count %d max %d p50 %d", a.Count(), a.Max(), a.Percentile(50))
	}
	for v := int64(1); v <= 100; v++ {
		h.Record(5_000_000 + v)
	}
	d := h.Snapshot().Sub(a)
	if d.Count() != 100 {
		t.Fatalf("diff count %d", d.Count())
	}
	if p := d.Percentile(50); p < 5_000_000 || p > 5_000_000*129/128 {
		t.Fatalf("diff p50 %d", p)
	}
	if d.Max() != h.Max() || d.Min() > 5_000_001 || d.Min() < 5_000_000*127/128 {
		t.Fatalf("diff min %d max %d (h max %d)", d.Min(), d.Max(), h.Max())
	}
	if m := d.Mean(); m < 5_000_050 || m > 5_000_051 {
		t.Fatalf("diff mean %f", m)
	}
	if e := h.Snapshot().Sub(h.Snapshot()); e.Count() != 0 || e.Percentile(99) != 0 {
		t.Fatal("empty diff not empty")
	}
}

func TestQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantiles(nil) != nil {
		t.Fatal("quantiles of an empty histogram")
	}
	for v := int64(1); v <= 100; v++ {
		h.Record(v * 1e6)
	}
	q := h.Quantiles(nil)
	if len(q) != len(CDFPercentiles) || q[0].Ms != 1 || q[len(q)-1].Ms != 100 {
		t.Fatalf("quantiles %v", q)
	}
	for i := 1; i < len(q); i++ {
		if q[i].Ms < q[i-1].Ms || q[i].P <= q[i-1].P {
			t.Fatalf("not monotonic at %d: %v", i, q)
		}
	}
}

// TestTimeline runs on synctest's clock: the intervals are exact, so are
// the points (six whole intervals and the last 30 ms, over a quarter of
// one).
func TestTimeline(t *testing.T) {
	synctest.Test(t, testTimeline)
}

func testTimeline(t *testing.T) {
	var ops, errs atomic.Int64
	var h Histogram
	tl := &Timeline{Interval: 50 * time.Millisecond, Ops: ops.Load, Errors: errs.Load, Bytes: func() int64 { return ops.Load() * 1e6 },
		Latency: &h, Target: &Sampler{PID: os.Getpid(), PprofURL: "http://127.0.0.1:1/never"}}
	stop := tl.Start()
	end := time.Now().Add(330 * time.Millisecond)
	for time.Now().Before(end) {
		ops.Add(1)
		h.Record(2e6)
		if ops.Load()%10 == 0 {
			errs.Add(1)
		}
		time.Sleep(time.Millisecond)
	}
	pts := stop()
	if len(pts) != 7 {
		t.Fatalf("%d points for 330 ms at 50 ms, want 7", len(pts))
	}
	var n, e int64
	for i, p := range pts {
		n += p.Ops
		e += p.Errors
		if p.Seconds <= 0 || (i > 0 && p.T <= pts[i-1].T) {
			t.Fatalf("point %d: %+v", i, p)
		}
		if p.Ops > 0 && (p.P50Ms < 1.98 || p.P50Ms > 2.02 || p.P99Ms < p.P50Ms || p.MBPerSec <= 0) {
			t.Fatalf("point %d: %+v", i, p)
		}
		if p.Target == nil || p.Target.RSSKiB <= 0 || p.Target.FDs <= 0 {
			t.Fatalf("point %d without target: %+v", i, p)
		}
	}
	// The points cover the whole run, the last partial interval included.
	if n != ops.Load() || e != errs.Load() {
		t.Fatalf("points hold %d ops, %d errors of %d, %d", n, e, ops.Load(), errs.Load())
	}
	if again := stop(); len(again) != len(pts) {
		t.Fatal("second stop changed the points")
	}
}
