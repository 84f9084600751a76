// Package run is the machinery every protoload scenario shares: dialing
// from several source addresses, failures by phase and kind, sampling of
// the target's and this process's CPU and memory, the progress line and
// the tail of the result tables.
package run

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// StatusError is a refusal by the server: POP3 -ERR, an SMTP reply that is
// not the expected class, ManageSieve NO or BYE.
type StatusError struct {
	// Status is "-ERR", the SMTP reply code ("535"), "NO" or "BYE".
	Status string
	// Code is the response code if any: "AUTH" (POP3 "[AUTH]"), "5.7.8"
	// (SMTP enhanced status), "TRYLATER" (ManageSieve "(TRYLATER)").
	Code string
	Text string // the whole line
}

func (e *StatusError) Error() string { return e.Text }

// Kind groups errors in the report: "-ERR [AUTH]", "535 5.7.8",
// "NO (TRYLATER)".
func (e *StatusError) Kind() string {
	switch {
	case e.Code == "":
		return e.Status
	case e.Status == "-ERR":
		return e.Status + " [" + e.Code + "]"
	case e.Status == "NO" || e.Status == "BYE":
		return e.Status + " (" + e.Code + ")"
	}
	return e.Status + " " + e.Code
}

// OpError is a failure and the step it happened in.
type OpError struct {
	Phase string
	Err   error
}

func (e *OpError) Error() string { return e.Phase + ": " + e.Err.Error() }

// Kind groups the failure in the report: the phase, then the server's
// refusal (StatusError.Kind) or the error's class.
func (e *OpError) Kind() string {
	var se *StatusError
	if errors.As(e.Err, &se) {
		return e.Phase + ": " + se.Kind()
	}
	return e.Phase + ": " + stats.Classify(e.Err)
}

// Fail is the OpError of err in phase.
func Fail(phase string, err error) *OpError { return &OpError{phase, err} }

// StartProgress prints a line to w every interval until the returned
// function is called; that function returns once nothing more is written.
// total is the latency histogram the line quotes p99 from.
func StartProgress(w io.Writer, every time.Duration, proto string, ok *atomic.Int64, errs *stats.Errors, total *stats.Histogram) (stop func()) {
	if w == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t0 := time.Now()
		tk := time.NewTicker(every)
		defer tk.Stop()
		var last int64
		var lastT time.Duration
		for {
			select {
			case <-quit:
				return
			case <-tk.C:
				el := time.Since(t0)
				n := ok.Load()
				rate := float64(n-last) / (el - lastT).Seconds()
				last, lastT = n, el
				fmt.Fprintf(w, "[%6.1fs] %s ok %d (%.0f/s), errors %d, p99 %.3f ms\n",
					el.Seconds(), proto, n, rate, errs.Total(), float64(total.Percentile(99))/1e6)
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// Sampling collects samples of the target and of this process.
type Sampling struct {
	target  *stats.Sampler
	self    stats.Sampler
	samples []stats.ProcSample
	selfA   stats.ProcSample
	err     error
}

// NewSampling starts sampling this process, and t when it has a PID.
func NewSampling(t *stats.Sampler) *Sampling {
	s := &Sampling{target: t, self: stats.Sampler{PID: os.Getpid()}}
	s.selfA, _ = s.self.Sample("start")
	return s
}

// Take samples the target, labelled.
func (s *Sampling) Take(label string) {
	if s.target == nil || s.target.PID <= 0 {
		return
	}
	smp, err := s.target.Sample(label)
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	s.samples = append(s.samples, smp)
}

// Finish fills the process fields of r.
func (s *Sampling) Finish(r *imapload.Result) {
	if b, err := s.self.Sample("end"); err == nil && s.selfA.Label != "" {
		d := stats.Delta(s.selfA, b)
		r.BenchCPU = &d
	}
	if s.err != nil {
		r.SamplerError = s.err.Error()
	}
	r.TargetSamples = s.samples
	if len(s.samples) < 2 {
		return
	}
	first, last := s.samples[0], s.samples[len(s.samples)-1]
	d := stats.Delta(first, last)
	c := &imapload.Cost{
		CPUSeconds:  d.CPUSeconds,
		CPUPercent:  d.CPUPercent,
		RSSStartKiB: first.RSSKiB,
		RSSEndKiB:   last.RSSKiB,
		RSSPeakKiB:  last.HWMKiB,
	}
	if r.Ops > 0 {
		c.CPUMicrosPerOp = d.CPUSeconds * 1e6 / float64(r.Ops)
	}
	r.TargetCost = c
}
