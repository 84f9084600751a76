// Package run is the machinery every protoload scenario shares: failures
// by phase and kind, the progress line and the tail of the result tables.
package run

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/internal/progress"
	"github.com/switchyard-mail/switchyard/bench/internal/sources"
	"github.com/switchyard-mail/switchyard/bench/internal/storm"
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
	ops := progress.Ops(ok, errs, total)
	return progress.Start(w, every, func(el time.Duration) string { return proto + " " + ops(el) })
}

// Connections is one worker of a scenario that works connection by
// connection: it calls connection until r ends, until count operations
// were started (0: no bound), or until connection says there is no more.
// A failure is counted in errs by kind, then the worker pauses a
// millisecond so as not to spin on a dead target; a dial cut short by the
// end of the run is not a failure.
func Connections(r *storm.Run, count int64, started *atomic.Int64, errs *stats.Errors, connection func(context.Context) (more bool, _ *OpError)) {
	for r.Ctx.Err() == nil {
		if count > 0 && started.Load() >= count {
			return
		}
		more, oe := connection(r.Ctx)
		if oe != nil {
			if r.Cancelled(oe.Phase) {
				return // cancelled while dialing: not a failure
			}
			errs.Add(oe.Kind())
			time.Sleep(time.Millisecond) // do not spin on a dead target
		}
		if !more {
			return
		}
	}
}

// Dial connects with d and sets the connection's deadline to the start
// plus timeout; with implicit it then handshakes TLS with cfg at once,
// recording the handshake's time in hs. Failures are in phase "connect"
// or "tls".
func Dial(ctx context.Context, d *sources.Dialer, timeout time.Duration, implicit bool, cfg *tls.Config, hs *stats.Histogram) (net.Conn, *OpError) {
	t0 := time.Now()
	nc, err := d.Dial(ctx)
	if err != nil {
		return nil, Fail("connect", err)
	}
	_ = nc.SetDeadline(t0.Add(timeout))
	if !implicit {
		return nc, nil
	}
	th := time.Now()
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, Fail("tls", err)
	}
	hs.RecordDuration(time.Since(th))
	return tc, nil
}
