package run

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// The parts of the result tables the deliver and http scenarios share.

// FmtSummary prints a latency summary in one line ("-" when empty).
func FmtSummary(s stats.Summary) string {
	if s.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (n=%d)", s.P50Ms, s.P90Ms, s.P99Ms, s.P999Ms, s.MaxMs, s.Count)
}

// NewTable returns the table the results print on w and its row printer:
// p(key, format, args...) prints "key<TAB>value".
func NewTable(w io.Writer) (tw *tabwriter.Writer, p func(k, f string, a ...any)) {
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	return tw, func(k, f string, a ...any) { fmt.Fprintf(tw, "%s\t"+f+"\n", append([]any{k}, a...)...) }
}

// WriteRun prints the rows that say how the run was made: concurrency,
// sources (when more than one) and wall time.
func WriteRun(p func(k, f string, a ...any), r *imapload.Result) {
	p("concurrency", "%d", r.Concurrency)
	if r.Sources > 1 {
		p("sources", "127.0.0.1-%d", r.Sources)
	}
	p("wall time", "%.2f s", r.WallSeconds)
}

// WritePhases prints the latency of each phase of names that r has.
func WritePhases(p func(k, f string, a ...any), r *imapload.Result, names ...string) {
	for _, k := range names {
		if s, ok := r.Phases[k]; ok {
			p("  "+k+" (ms)", "%s", FmtSummary(s))
		}
	}
}

// WriteTail prints the rows that end every table: errors by kind, the
// target's CPU (per unit: "message", "request") and RSS, the sampler's
// error, and this process's CPU. p prints one row.
func WriteTail(p func(k, f string, a ...any), r *imapload.Result, unit string) {
	for _, e := range r.ErrorsByKind {
		p("  error", "%-40s %d", e.Kind, e.Count)
	}
	if c := r.TargetCost; c != nil {
		p("target", "%s", stats.CPUText(c.CPUSeconds, c.CPUPercent, "", c.CPUMicrosPerOp, 1, unit))
		p("target rss", "%d KiB -> %d KiB (peak %d KiB)", c.RSSStartKiB, c.RSSEndKiB, c.RSSPeakKiB)
	}
	if r.SamplerError != "" {
		p("sampler error", "%s", r.SamplerError)
	}
	if b := r.BenchCPU; b != nil {
		p("bench itself", "%s", stats.CPUText(b.CPUSeconds, b.CPUPercent, "", 0, 0, ""))
	}
}

// WriteJSON writes v, indented, to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
