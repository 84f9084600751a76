package mixload

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchyard-mail/switchyard/bench/stats"
)

// Result is a mixed run: the whole and each component.
type Result struct {
	Scenario    string    `json:"scenario"` // "mixed"
	Users       int       `json:"users"`
	MessageSize int       `json:"message_size"`
	Started     time.Time `json:"started"`
	// RampSeconds is the opening of the idle sessions and the clients;
	// WallSeconds the measured phase.
	RampSeconds float64 `json:"ramp_seconds"`
	WallSeconds float64 `json:"wall_seconds"`
	// Ops are the operations of the measured phase (logins, fetches,
	// deliveries; not the idle sessions); Errors all failures, the ramp's
	// and the idle sessions' included.
	Ops        int64         `json:"ops"`
	Errors     int64         `json:"errors"`
	OpsPerSec  float64       `json:"ops_per_sec"`
	Components []Component   `json:"components"`
	Timeline   []stats.Point `json:"timeline,omitempty"`

	TargetSamples []stats.ProcSample `json:"target_samples,omitempty"`
	TargetCost    *Cost              `json:"target_cost,omitempty"`
	SamplerError  string             `json:"sampler_error,omitempty"`
	BenchCPU      *stats.ProcDelta   `json:"bench_cpu,omitempty"`
}

// Component is one kind of operation. Latency runs from the moment the
// operation was due (its arrival time) to its end, so time spent waiting
// for a free client counts; for idle-imap it is the opening of a session
// (connect to IDLE's "+").
type Component struct {
	Name     string `json:"name"` // idle-imap, login-imap, login-pop3, login-submission, fetch-imap, deliver-lmtp, deliver-smtp
	Protocol string `json:"protocol"`
	Target   string `json:"target"`
	// RatePerSec is the rate asked (arrivals); Clients the operations
	// that may be in flight at once (idle-imap: sessions opened at once).
	RatePerSec float64 `json:"rate_per_sec,omitempty"`
	Clients    int     `json:"clients"`
	Ops        int64   `json:"ops"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	Errors     int64   `json:"errors"`
	// Shed counts arrivals dropped because every client was busy and the
	// queue (a second of arrivals, at least one per client) was full, or
	// still queued when the run ended.
	Shed         int64                    `json:"shed"`
	ErrorsByKind []stats.KindCount        `json:"errors_by_kind,omitempty"`
	Latency      stats.Summary            `json:"latency"`
	LatencyCDF   []stats.Quantile         `json:"latency_cdf,omitempty"`
	Phases       map[string]stats.Summary `json:"phases,omitempty"`
	Timeline     []stats.Point            `json:"timeline,omitempty"`

	// idle-imap: sessions asked, established, still answering DONE at
	// the end; the time the opening took.
	Sessions    int     `json:"sessions,omitempty"`
	Established int     `json:"established,omitempty"`
	Alive       int     `json:"alive,omitempty"`
	OpenSeconds float64 `json:"open_seconds,omitempty"`
	// fetch-imap: literal bytes received.
	Bytes int64 `json:"bytes,omitempty"`
	// deliveries.
	MessageSize   int   `json:"message_size,omitempty"`
	PerConnection int   `json:"per_connection,omitempty"`
	Connections   int64 `json:"connections,omitempty"`
	Partial       int64 `json:"partial,omitempty"`
}

// Cost is what the target spent: CPU over the measured phase, memory
// from before the ramp to the end of it.
type Cost struct {
	CPUSeconds     float64 `json:"cpu_seconds"`
	CPUPercent     float64 `json:"cpu_percent"`
	CPUMicrosPerOp float64 `json:"cpu_us_per_op"`
	RSSStartKiB    int64   `json:"rss_start_kib"`
	// RSSEstablishedKiB is with every idle session open.
	RSSEstablishedKiB int64 `json:"rss_established_kib"`
	RSSEndKiB         int64 `json:"rss_end_kib"`
	RSSPeakKiB        int64 `json:"rss_peak_kib"`
	// RSSPerIdleKiB is the RSS growth over the ramp per idle session (the
	// few fetch and LMTP clients opened with them included).
	RSSPerIdleKiB  float64 `json:"rss_per_idle_kib,omitempty"`
	FDsStart       int     `json:"fds_start"`
	FDsEstablished int     `json:"fds_established"`
}

// WriteJSON writes r, indented, to path.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func kib(v int64) string {
	if v >= 10*1024 {
		return fmt.Sprintf("%.1f MiB", float64(v)/1024)
	}
	return fmt.Sprintf("%d KiB", v)
}

// WriteText prints r: a header, one row per component, the errors and
// the target's cost.
func (r *Result) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(k, f string, a ...any) { fmt.Fprintf(tw, "%s\t"+f+"\n", append([]any{k}, a...)...) }
	p("scenario", "mixed (%d users)", r.Users)
	var targets []string
	seen := map[string]bool{}
	for _, c := range r.Components {
		if !seen[c.Protocol] {
			seen[c.Protocol] = true
			targets = append(targets, c.Protocol+" "+c.Target)
		}
	}
	p("targets", "%s", strings.Join(targets, ", "))
	p("ramp", "%.2f s (idle sessions and clients opened)", r.RampSeconds)
	p("measured", "%.2f s: %d operations, %d errors", r.WallSeconds, r.Ops, r.Errors)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	// Right-aligned figures; the names padded to the left by hand.
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	width := len("component")
	for _, c := range r.Components {
		width = max(width, len(c.Name))
	}
	fmt.Fprintf(tw, "%-*s\tasked/s\tdone/s\tok\terrors\tshed\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\t\n", width, "component")
	for _, c := range r.Components {
		l := c.Latency
		if c.Name == "idle-imap" {
			fmt.Fprintf(tw, "%-*s\t-\t%.0f open/s\t%d/%d\t%d\t-\t%s\t%s\t%s\t%s\t%s\t\n", width, c.Name, c.OpsPerSec, c.Established, c.Sessions,
				c.Errors, ms(l.P50Ms), ms(l.P90Ms), ms(l.P99Ms), ms(l.P999Ms), ms(l.MaxMs))
			continue
		}
		fmt.Fprintf(tw, "%-*s\t%.1f\t%.1f\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", width, c.Name, c.RatePerSec, c.OpsPerSec, c.Ops, c.Errors, c.Shed,
			ms(l.P50Ms), ms(l.P90Ms), ms(l.P99Ms), ms(l.P999Ms), ms(l.MaxMs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range r.Components {
		switch {
		case c.Name == "idle-imap":
			p(c.Name, "%d of %d sessions open (%d at once) in %.2f s, %d still in IDLE at the end (DONE answered OK)",
				c.Established, c.Sessions, c.Clients, c.OpenSeconds, c.Alive)
		case c.MessageSize > 0:
			per := "connections kept"
			if c.PerConnection > 0 {
				per = fmt.Sprintf("%d per connection", c.PerConnection)
			}
			p(c.Name, "%d clients, %d-byte messages, %s, %d connections, %d partial", c.Clients, c.MessageSize, per, c.Connections, c.Partial)
		case c.Bytes > 0:
			p(c.Name, "%d sessions, %.1f KB received", c.Clients, float64(c.Bytes)/1e3)
		default:
			p(c.Name, "%d clients at most in flight", c.Clients)
		}
		for _, e := range c.ErrorsByKind {
			p("  error", "%-40s %d", e.Kind, e.Count)
		}
	}
	if c := r.TargetCost; c != nil {
		p("target", "%s", stats.CPUText(c.CPUSeconds, c.CPUPercent, " over the measured phase", c.CPUMicrosPerOp, 0, "op"))
		rss := fmt.Sprintf("%s -> %s with every session open -> %s at the end (peak %s)", kib(c.RSSStartKiB), kib(c.RSSEstablishedKiB), kib(c.RSSEndKiB), kib(c.RSSPeakKiB))
		if c.RSSPerIdleKiB > 0 {
			rss += fmt.Sprintf("; %.2f KiB per idle session", c.RSSPerIdleKiB)
		}
		p("target rss", "%s", rss)
		if c.FDsStart >= 0 && c.FDsEstablished >= 0 {
			p("target fds", "%d -> %d", c.FDsStart, c.FDsEstablished)
		}
	}
	if r.SamplerError != "" {
		p("sampler error", "%s", r.SamplerError)
	}
	if b := r.BenchCPU; b != nil {
		p("bench itself", "%s", stats.CPUText(b.CPUSeconds, b.CPUPercent, "", 0, 0, ""))
	}
	return tw.Flush()
}
