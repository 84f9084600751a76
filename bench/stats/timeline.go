package stats

import (
	"os"
	"sync"
	"time"

	"github.com/switchyard-mail/switchyard/bench/internal/ticker"
)

// MaxPoints bounds a timeline: past it, intervals are no longer recorded
// (an hour at one point a second is 3,600).
const MaxPoints = 100_000

// Point is one interval of a timeline.
type Point struct {
	// T is the end of the interval in seconds since the timeline started;
	// Seconds its length (the last one may be shorter).
	T       float64 `json:"t"`
	Seconds float64 `json:"seconds"`
	// Ops and Errors completed in the interval, and the rate of Ops.
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Errors    int64   `json:"errors"`
	// Latency of the operations that completed in the interval (0 when
	// none did, or when no latency is measured).
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// MBPerSec is the payload rate (10^6 bytes), for scenarios that move
	// bytes.
	MBPerSec float64 `json:"mb_per_sec,omitempty"`
	// Target is the observed process over the interval; BenchCPUPercent
	// is this process's CPU (100 = one core busy).
	Target          *PointProc `json:"target,omitempty"`
	BenchCPUPercent float64    `json:"bench_cpu_percent"`
}

// PointProc is the target process over one interval.
type PointProc struct {
	CPUPercent float64 `json:"cpu_percent"`
	RSSKiB     int64   `json:"rss_kib"`
	FDs        int     `json:"fds"`
}

// Timeline cuts a run into intervals and records, for each, what completed
// in it: operations, errors, latency percentiles (from the differences of
// snapshots of a cumulative histogram, so the recording code is unchanged),
// bytes, and the target's CPU and RSS. Configure the fields, then Start.
type Timeline struct {
	// Interval is the length of one point (default 1 s, at least 10 ms).
	Interval time.Duration
	// Ops returns the operations completed so far (required); Errors and
	// Bytes likewise (optional).
	Ops, Errors, Bytes func() int64
	// Latency is the run's cumulative latency histogram (optional).
	Latency *Histogram
	// Target is sampled at every interval's end (optional; its PprofURL
	// is not used).
	Target *Sampler
}

// Start begins the timeline. stop ends it, records the last interval if it
// is at least a quarter of Interval long, and returns the points; it may
// be called once.
func (t *Timeline) Start() (stop func() []Point) {
	every := t.Interval
	if every <= 0 {
		every = time.Second
	}
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	var target *Sampler
	if t.Target != nil && t.Target.PID > 0 {
		s := *t.Target
		s.PprofURL = ""
		target = &s
	}
	self := &Sampler{PID: os.Getpid()}
	read := func(f func() int64) int64 {
		if f == nil {
			return 0
		}
		return f()
	}
	type state struct {
		at               time.Time
		ops, errs, bytes int64
		lat              *Histogram
		tgt, me          ProcSample
		tgtOK, meOK      bool
	}
	take := func() state {
		s := state{at: time.Now(), ops: read(t.Ops), errs: read(t.Errors), bytes: read(t.Bytes)}
		if t.Latency != nil {
			s.lat = t.Latency.Snapshot()
		}
		if target != nil {
			if p, err := target.Sample(""); err == nil {
				s.tgt, s.tgtOK = p, true
			}
		}
		if p, err := self.Sample(""); err == nil {
			s.me, s.meOK = p, true
		}
		return s
	}
	t0 := time.Now()
	prev := take()
	var points []Point
	point := func(cur state) {
		dt := cur.at.Sub(prev.at).Seconds()
		if dt <= 0 || len(points) >= MaxPoints {
			return
		}
		p := Point{
			T: cur.at.Sub(t0).Seconds(), Seconds: dt,
			Ops: cur.ops - prev.ops, Errors: cur.errs - prev.errs,
		}
		p.OpsPerSec = float64(p.Ops) / dt
		if t.Bytes != nil {
			p.MBPerSec = float64(cur.bytes-prev.bytes) / 1e6 / dt
		}
		if cur.lat != nil && prev.lat != nil {
			if d := cur.lat.Sub(prev.lat); d.Count() > 0 {
				p.P50Ms = float64(d.Percentile(50)) / 1e6
				p.P99Ms = float64(d.Percentile(99)) / 1e6
				p.MaxMs = float64(d.Max()) / 1e6
			}
		}
		if cur.tgtOK && prev.tgtOK {
			p.Target = &PointProc{
				CPUPercent: 100 * (cur.tgt.CPUSeconds - prev.tgt.CPUSeconds) / dt,
				RSSKiB:     cur.tgt.RSSKiB,
				FDs:        cur.tgt.FDs,
			}
		}
		if cur.meOK && prev.meOK {
			p.BenchCPUPercent = 100 * (cur.me.CPUSeconds - prev.me.CPUSeconds) / dt
		}
		points = append(points, p)
	}
	var mu sync.Mutex // guards points and prev against stop
	stopTicks := ticker.Every(every, func() bool {
		cur := take()
		mu.Lock()
		point(cur)
		prev = cur
		full := len(points) >= MaxPoints
		mu.Unlock()
		return !full
	})
	var once sync.Once
	return func() []Point {
		once.Do(func() {
			stopTicks()
			cur := take()
			mu.Lock()
			if cur.at.Sub(prev.at) >= every/4 {
				point(cur)
			}
			mu.Unlock()
		})
		mu.Lock()
		defer mu.Unlock()
		return points
	}
}

// StartTimeline starts a Timeline with these fields when every is
// positive; otherwise it starts nothing and stop returns nil.
func StartTimeline(every time.Duration, target *Sampler, ops, errs, bytes func() int64, latency *Histogram) (stop func() []Point) {
	if every <= 0 || ops == nil {
		return func() []Point { return nil }
	}
	t := &Timeline{Interval: every, Ops: ops, Errors: errs, Bytes: bytes, Latency: latency, Target: target}
	return t.Start()
}
