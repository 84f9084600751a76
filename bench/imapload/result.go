package imapload

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchyard-mail/switchyard/bench/internal/progress"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// Result is what a scenario reports; it is printed as a table and written
// as JSON.
type Result struct {
	Scenario    string    `json:"scenario"`
	Target      string    `json:"target"`
	TLS         TLSMode   `json:"tls"`
	Auth        AuthMode  `json:"auth,omitempty"`
	Concurrency int       `json:"concurrency"`
	Rate        float64   `json:"rate,omitempty"` // open-loop logins per second asked (0: closed loop)
	Sources     int       `json:"sources,omitempty"`
	Started     time.Time `json:"started"`
	WallSeconds float64   `json:"wall_seconds"`
	// Ops counts successful operations (logins; established sessions).
	Ops          int64             `json:"ops"`
	Errors       int64             `json:"errors"`
	ErrorsByKind []stats.KindCount `json:"errors_by_kind,omitempty"`
	OpsPerSec    float64           `json:"ops_per_sec"`
	// Latency is of a whole operation (a login session from connect to
	// logout; the opening of an idle session); Phases splits it.
	Latency stats.Summary            `json:"latency"`
	Phases  map[string]stats.Summary `json:"phases"`
	// LatencyCDF is Latency's distribution at stats.CDFPercentiles;
	// Timeline the run in intervals (Options.Timeline).
	LatencyCDF []stats.Quantile `json:"latency_cdf,omitempty"`
	Timeline   []stats.Point    `json:"timeline,omitempty"`

	// Idle scenario.
	Conns       int     `json:"conns,omitempty"`
	Preauth     bool    `json:"preauth,omitempty"`
	Established int     `json:"established,omitempty"`
	Alive       int     `json:"alive,omitempty"` // answered NOOP after the hold (-1: not checked)
	HoldSeconds float64 `json:"hold_seconds,omitempty"`

	// The target process, if observed, and this process.
	TargetSamples []stats.ProcSample `json:"target_samples,omitempty"`
	TargetCost    *Cost              `json:"target_cost,omitempty"`
	SamplerError  string             `json:"sampler_error,omitempty"`
	BenchCPU      *stats.ProcDelta   `json:"bench_cpu,omitempty"`
}

// Cost is what the target spent.
type Cost struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"`
	// CPUMicrosPerOp is CPU time per successful operation.
	CPUMicrosPerOp float64 `json:"cpu_us_per_op"`
	RSSStartKiB    int64   `json:"rss_start_kib"`
	RSSEndKiB      int64   `json:"rss_end_kib"`
	RSSPeakKiB     int64   `json:"rss_peak_kib"`
	// Per established session (idle scenario): growth from the start
	// sample to the "established" one.
	RSSPerConnKiB         float64 `json:"rss_per_conn_kib,omitempty"`
	FDsPerConn            float64 `json:"fds_per_conn,omitempty"`
	GoroutinesPerConn     float64 `json:"goroutines_per_conn,omitempty"`
	GoroutinesStart       int     `json:"goroutines_start,omitempty"`
	GoroutinesEstablished int     `json:"goroutines_established,omitempty"`
}

// SetCounts fills what every scenario measures the same way: the wall
// time, the operations that succeeded and their rate, the failures by
// kind, and the latency of an operation (summary and CDF).
func (r *Result) SetCounts(wall time.Duration, ops int64, errs *stats.Errors, latency *stats.Histogram) {
	r.WallSeconds = wall.Seconds()
	r.Ops = ops
	r.Errors = errs.Total()
	r.ErrorsByKind = errs.Sorted()
	r.OpsPerSec = float64(r.Ops) / wall.Seconds()
	r.Latency = latency.Summarize()
	r.LatencyCDF = latency.Quantiles(nil)
}

// SetCost fills the process fields of r from s: the bench's CPU, the
// target's samples and its cost from the first sample to the last.
// perConnAt names the sample taken with every session open (idle
// scenario), or "".
func (r *Result) SetCost(s *stats.RunSampling, perConnAt string) {
	if d := s.SelfCPU(); d != nil {
		r.BenchCPU = d
	}
	r.SamplerError = s.SamplerError()
	samples := s.Samples()
	r.TargetSamples = samples
	if len(samples) < 2 {
		return
	}
	first, last := samples[0], samples[len(samples)-1]
	d := stats.Delta(first, last)
	c := &Cost{
		CPUSeconds:  d.CPUSeconds,
		CPUPercent:  d.CPUPercent,
		RSSStartKiB: first.RSSKiB,
		RSSEndKiB:   last.RSSKiB,
		RSSPeakKiB:  last.HWMKiB,
	}
	if r.Ops > 0 {
		c.CPUMicrosPerOp = d.CPUSeconds * 1e6 / float64(r.Ops)
	}
	if perConnAt != "" && r.Established > 0 {
		if e, ok := s.Find(perConnAt); ok {
			n := float64(r.Established)
			c.RSSPerConnKiB = float64(e.RSSKiB-first.RSSKiB) / n
			if e.FDs >= 0 && first.FDs >= 0 {
				c.FDsPerConn = float64(e.FDs-first.FDs) / n
			}
			if e.Goroutines >= 0 && first.Goroutines >= 0 {
				c.GoroutinesPerConn = float64(e.Goroutines-first.Goroutines) / n
				c.GoroutinesStart, c.GoroutinesEstablished = first.Goroutines, e.Goroutines
			}
		}
	}
	r.TargetCost = c
}

// WriteJSON writes r, indented, to path.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func fmtSummary(s stats.Summary) string {
	if s.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (n=%d)", s.P50Ms, s.P90Ms, s.P99Ms, s.P999Ms, s.MaxMs, s.Count)
}

// WriteText prints r as a table.
func (r *Result) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(k, f string, a ...any) { fmt.Fprintf(tw, "%s\t"+f+"\n", append([]any{k}, a...)...) }
	p("scenario", "%s", r.Scenario)
	p("target", "%s", r.Target)
	mode := string(r.TLS)
	if r.Preauth {
		mode += " / pre-auth only"
	} else {
		mode += " / " + string(r.Auth)
	}
	p("tls / auth", "%s", mode)
	p("concurrency", "%d", r.Concurrency)
	if r.Rate > 0 {
		p("open-loop rate", "%g/s asked (latency from when each login was due)", r.Rate)
	}
	if r.Sources > 1 {
		p("sources", "127.0.0.1-%d", r.Sources)
	}
	p("wall time", "%.2f s", r.WallSeconds)
	switch r.Scenario {
	case "idle":
		p("sessions", "%d requested, %d established, %d failed", r.Conns, r.Established, r.Errors)
		if r.Alive >= 0 {
			p("alive after hold", "%d (held %.1f s)", r.Alive, r.HoldSeconds)
		}
		p("open rate", "%.0f sessions/s", r.OpsPerSec)
		p("open latency (ms)", "%s", fmtSummary(r.Latency))
	default:
		p("operations", "%d ok, %d failed", r.Ops, r.Errors)
		p("throughput", "%.0f ops/s", r.OpsPerSec)
		p("latency (ms)", "%s", fmtSummary(r.Latency))
	}
	names := make([]string, 0, len(r.Phases))
	for k := range r.Phases {
		names = append(names, k)
	}
	order := map[string]int{"connect": 0, "tls": 1, "auth": 2, "noop": 3, "logout": 4}
	sort.Slice(names, func(i, j int) bool { return order[names[i]] < order[names[j]] })
	for _, k := range names {
		p("  "+k+" (ms)", "%s", fmtSummary(r.Phases[k]))
	}
	for _, e := range r.ErrorsByKind {
		p("  error", "%-40s %d", e.Kind, e.Count)
	}
	if c := r.TargetCost; c != nil {
		p("target", "%s", stats.CPUText(c.CPUSeconds, c.CPUPercent, "", c.CPUMicrosPerOp, 1, "op"))
		p("target rss", "%s -> %s (peak %s)", kib(c.RSSStartKiB), kib(c.RSSEndKiB), kib(c.RSSPeakKiB))
		if r.Scenario == "idle" && r.Established > 0 {
			extra := ""
			if c.FDsPerConn != 0 {
				extra += fmt.Sprintf(", %.2f fds", c.FDsPerConn)
			}
			if c.GoroutinesStart > 0 || c.GoroutinesEstablished > 0 {
				extra += fmt.Sprintf(", %.2f goroutines (%d -> %d)", c.GoroutinesPerConn, c.GoroutinesStart, c.GoroutinesEstablished)
			}
			p("target per session", "%.2f KiB rss%s", c.RSSPerConnKiB, extra)
		}
		var ss []string
		for _, s := range r.TargetSamples {
			ss = append(ss, fmt.Sprintf("%s: %s %.2fs", s.Label, kib(s.RSSKiB), s.CPUSeconds))
		}
		p("target samples", "%s", strings.Join(ss, "; "))
	}
	if r.SamplerError != "" {
		p("sampler error", "%s", r.SamplerError)
	}
	if b := r.BenchCPU; b != nil {
		p("bench itself", "%s", stats.CPUText(b.CPUSeconds, b.CPUPercent, "", 0, 0, ""))
	}
	return tw.Flush()
}

func kib(v int64) string {
	if v >= 10*1024 {
		return fmt.Sprintf("%.1f MiB", float64(v)/1024)
	}
	return fmt.Sprintf("%d KiB", v)
}

// startProgress prints a line every o.ProgressEvery until the returned
// function is called; that function returns once nothing more is written.
func startProgress(o *Options, line func(elapsed time.Duration) string) (stop func()) {
	return progress.Start(o.Progress, o.ProgressEvery, line)
}
