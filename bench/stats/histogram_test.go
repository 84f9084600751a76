package stats

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
)

func TestBucketsAreContiguousAndMonotonic(t *testing.T) {
	prevHi := int64(-1)
	for i := 0; i < nBuckets; i++ {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if hi < lo {
			t.Fatalf("bucket %d: hi %d < lo %d", i, hi, lo)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d,%d] maps back to %d/%d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/subCount+1e-12 {
			t.Fatalf("bucket %d [%d,%d] wider than 1/%d", i, lo, hi, subCount)
		}
		prevHi = hi
	}
	if prevHi != maxValue {
		t.Fatalf("last bucket ends at %d, want %d", prevHi, maxValue)
	}
	if bucketOf(math.MaxInt64) != nBuckets-1 || bucketOf(-5) != 0 {
		t.Fatal("out-of-range values are not clamped")
	}
}

func exactPercentile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

func TestPercentilesWithinRelativeError(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]int64, 200000)
	var sum int64
	for i := range vals {
		// Log-normal-ish latencies from ~10 µs to ~1 s.
		v := int64(math.Exp(r.NormFloat64()*1.5+13.8)) + 1
		vals[i] = v
		sum += v
		h.Record(v)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{1, 10, 50, 90, 99, 99.9, 99.99} {
		got, want := h.Percentile(q), exactPercentile(vals, q)
		if got < want || float64(got-want) > float64(want)/subCount {
			t.Errorf("p%v = %d, exact %d (rel err %.4f)", q, got, want, float64(got-want)/float64(want))
		}
	}
	if h.Count() != uint64(len(vals)) || h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
		t.Fatalf("count/min/max = %d/%d/%d", h.Count(), h.Min(), h.Max())
	}
	if h.Percentile(0) != vals[0] || h.Percentile(100) != vals[len(vals)-1] {
		t.Fatal("p0/p100 are not min/max")
	}
	if want := float64(sum) / float64(len(vals)); math.Abs(h.Mean()-want) > 1e-6*want {
		t.Fatalf("mean %f, want %f", h.Mean(), want)
	}
}

func TestSmallValuesExact(t *testing.T) {
	var h Histogram
	for v := int64(1); v <= 100; v++ {
		h.Record(v)
	}
	if h.Percentile(50) != 50 || h.Percentile(90) != 90 || h.Percentile(99) != 99 || h.Percentile(99.9) != 100 {
		t.Fatalf("p50/p90/p99/p99.9 = %d/%d/%d/%d", h.Percentile(50), h.Percentile(90), h.Percentile(99), h.Percentile(99.9))
	}
}

func TestEmptyAndSingle(t *testing.T) {
	var h Histogram
	if h.Percentile(99) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram is not all zero")
	}
	h.Record(123456789)
	s := h.Summarize()
	if s.Count != 1 || s.P50Ms != 123.456789 || s.P999Ms != 123.456789 || s.MinMs != s.MaxMs {
		t.Fatalf("single-value summary %+v", s)
	}
	h.Reset()
	if h.Count() != 0 || h.Max() != 0 {
		t.Fatal("reset did not clear")
	}
}

func TestConcurrentRecordAndMerge(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				h.Record(int64(g*10000 + i))
			}
		}(g)
	}
	wg.Wait()
	if h.Count() != 80000 || h.Min() != 0 || h.Max() != 79999 {
		t.Fatalf("count/min/max = %d/%d/%d", h.Count(), h.Min(), h.Max())
	}
	var a, b Histogram
	a.Record(5)
	b.Record(1)
	b.Record(1000)
	a.Merge(&b)
	if a.Count() != 3 || a.Min() != 1 || a.Max() != 1000 || a.Percentile(50) != 5 {
		t.Fatalf("merged: count %d min %d max %d p50 %d", a.Count(), a.Min(), a.Max(), a.Percentile(50))
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		v := int64(1000)
		for pb.Next() {
			h.Record(v)
			v = v*31%1000003 + 1
		}
	})
}
