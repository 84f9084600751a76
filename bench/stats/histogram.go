// Package stats holds the bench's measuring instruments: a log-bucketed
// latency histogram in the style of HdrHistogram, error counting by kind, and
// samples of another process's CPU time and memory from /proc.
package stats

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits is the number of bits of precision kept below each power of two:
// every bucket is at most 1/2^subBits (0.78%) wide relative to its values.
const (
	subBits  = 7
	subCount = 1 << subBits
	// maxValue is the largest value the histogram distinguishes (2^40 ns is
	// about 18 minutes); larger values are counted in the last bucket.
	maxBits  = 40
	maxValue = int64(1)<<maxBits - 1
	nBuckets = (maxBits-subBits)*subCount + subCount
)

// Histogram counts non-negative int64 values (nanoseconds, for latencies)
// in logarithmic buckets with bounded relative error. Record is safe for
// concurrent use and does not allocate; the zero value is ready to use.
type Histogram struct {
	counts [nBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Int64
	min    atomic.Int64 // stored as value+1 so that 0 means "unset"
	max    atomic.Int64
}

// bucketOf maps a value to its bucket index.
func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	if v > maxValue {
		v = maxValue
	}
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1 // v>>e lies in [subCount, 2*subCount)
	return (e+1)*subCount + int(v>>uint(e)) - subCount
}

// bucketRange returns the smallest and largest value counted in bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	e := i/subCount - 1
	m := int64(i%subCount + subCount)
	lo = m << uint(e)
	hi = lo + int64(1)<<uint(e) - 1
	return lo, hi
}

// Record counts one value.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for {
		cur := h.min.Load()
		if cur != 0 && cur-1 <= v {
			break
		}
		if h.min.CompareAndSwap(cur, v+1) {
			break
		}
	}
	for {
		cur := h.max.Load()
		if cur >= v || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
}

// RecordDuration counts d in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Min returns the smallest value recorded (0 when empty).
func (h *Histogram) Min() int64 {
	if m := h.min.Load(); m > 0 {
		return m - 1
	}
	return 0
}

// Max returns the largest value recorded (0 when empty).
func (h *Histogram) Max() int64 { return h.max.Load() }

// Mean returns the exact mean of the recorded values (0 when empty).
func (h *Histogram) Mean() float64 {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Percentile returns the value below or at which q percent (0..100) of the
// recorded values lie, as the highest value of the bucket holding that rank
// (never above the recorded maximum). Its relative error is below 1/128.
func (h *Histogram) Percentile(q float64) int64 {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	if q <= 0 {
		return h.Min()
	}
	if q >= 100 {
		return h.Max()
	}
	rank := uint64(math.Ceil(q / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		if cum >= rank {
			_, hi := bucketRange(i)
			if mx := h.Max(); hi > mx {
				hi = mx
			}
			if mn := h.Min(); hi < mn {
				hi = mn
			}
			return hi
		}
	}
	return h.Max()
}

// Merge adds every value counted in o to h. o should not be recorded into
// concurrently if an exact copy is needed.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	if o.total.Load() == 0 {
		return
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	mn, mx := o.Min(), o.Max()
	for {
		cur := h.min.Load()
		if (cur != 0 && cur-1 <= mn) || h.min.CompareAndSwap(cur, mn+1) {
			break
		}
	}
	for {
		cur := h.max.Load()
		if cur >= mx || h.max.CompareAndSwap(cur, mx) {
			break
		}
	}
}

// Reset forgets every recorded value. It must not race with Record.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.total.Store(0)
	h.sum.Store(0)
	h.min.Store(0)
	h.max.Store(0)
}

// Summary is a latency histogram reduced to the figures a report shows, in
// milliseconds.
type Summary struct {
	Count  uint64  `json:"count"`
	MinMs  float64 `json:"min_ms"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Summarize reduces a histogram of nanosecond values to a Summary.
func (h *Histogram) Summarize() Summary {
	ms := func(v int64) float64 { return float64(v) / 1e6 }
	return Summary{
		Count:  h.Count(),
		MinMs:  ms(h.Min()),
		MeanMs: h.Mean() / 1e6,
		P50Ms:  ms(h.Percentile(50)),
		P90Ms:  ms(h.Percentile(90)),
		P99Ms:  ms(h.Percentile(99)),
		P999Ms: ms(h.Percentile(99.9)),
		MaxMs:  ms(h.Max()),
	}
}

// Snapshot returns a copy of h. When h is being recorded into, the copy is
// consistent per bucket but may miss values recorded while it was taken;
// Sub of two snapshots of the same histogram is still never negative.
func (h *Histogram) Snapshot() *Histogram {
	s := new(Histogram)
	var n uint64
	for i := range h.counts {
		c := h.counts[i].Load()
		s.counts[i].Store(c)
		n += c
	}
	s.total.Store(n)
	s.sum.Store(h.sum.Load())
	s.min.Store(h.min.Load())
	s.max.Store(h.max.Load())
	return s
}

// Sub returns the values counted in h but not in prev, an earlier snapshot
// of the same histogram: the values recorded between the two. Its minimum
// and maximum are the bounds of the lowest and highest buckets it holds
// (the maximum no higher than h's), so percentiles keep their bounded
// error; its mean is exact when the snapshots were taken with no record in
// flight.
func (h *Histogram) Sub(prev *Histogram) *Histogram {
	d := new(Histogram)
	var n uint64
	lo, hi := -1, -1
	for i := range h.counts {
		c, p := h.counts[i].Load(), prev.counts[i].Load()
		if c <= p {
			continue
		}
		d.counts[i].Store(c - p)
		n += c - p
		if lo < 0 {
			lo = i
		}
		hi = i
	}
	if n == 0 {
		return d
	}
	d.total.Store(n)
	if s := h.sum.Load() - prev.sum.Load(); s > 0 {
		d.sum.Store(s)
	}
	mn, _ := bucketRange(lo)
	_, mx := bucketRange(hi)
	if m := h.Max(); mx > m {
		mx = m
	}
	if mn > mx {
		mn = mx
	}
	d.min.Store(mn + 1)
	d.max.Store(mx)
	return d
}

// Quantile is one point of a latency distribution: P percent of the
// values were at most Ms milliseconds.
type Quantile struct {
	P  float64 `json:"p"`
	Ms float64 `json:"ms"`
}

// CDFPercentiles are the points Quantiles reports by default: enough to
// draw a distribution and its tail.
var CDFPercentiles = []float64{0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97, 98, 99, 99.5, 99.7, 99.9, 99.95, 99.99, 100}

// Quantiles returns the value at each percentile of ps (CDFPercentiles
// when nil), in milliseconds; nil when h is empty.
func (h *Histogram) Quantiles(ps []float64) []Quantile {
	if h.Count() == 0 {
		return nil
	}
	if ps == nil {
		ps = CDFPercentiles
	}
	out := make([]Quantile, len(ps))
	for i, p := range ps {
		out[i] = Quantile{P: p, Ms: float64(h.Percentile(p)) / 1e6}
	}
	return out
}
