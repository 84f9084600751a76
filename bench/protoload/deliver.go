package protoload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/internal/sources"
	"github.com/switchyard-mail/switchyard/bench/internal/storm"
	"github.com/switchyard-mail/switchyard/bench/protoload/internal/run"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// Delivery protocols (the deliver scenario): SMTP on port 25 (EHLO, no
// AUTH) and LMTP (LHLO, one reply per recipient after DATA).
const (
	SMTP Protocol = "smtp"
	LMTP Protocol = "lmtp"
)

// Bounds of the deliver scenario.
const (
	MinMessageSize   = 256
	MaxMessageSize   = 64 << 20
	MaxRecipients    = 1000
	MaxPerConnection = 100_000_000
)

// ParseDeliverProtocol accepts smtp and lmtp.
func ParseDeliverProtocol(s string) (Protocol, error) {
	switch s {
	case "smtp":
		return SMTP, nil
	case "lmtp":
		return LMTP, nil
	}
	return "", fmt.Errorf("protocol %q: want smtp or lmtp", s)
}

// DeliverOptions configure the deliver scenario: each of Concurrency
// workers connects, says EHLO/LHLO and sends messages (MAIL, RCPT ×
// Recipients, DATA, the body, the final reply[s]) over the connection,
// PerConnection at a time (0: as many as fit in the run), then QUIT, until
// Duration passes or Count messages were sent.
type DeliverOptions struct {
	Protocol Protocol // SMTP or LMTP
	Target   string   // host:port
	// Accounts are the recipients: message n (counting from 0) goes to
	// accounts n*Recipients .. n*Recipients+Recipients-1 (modulo the list),
	// a user name with '@' as is, otherwise <user>@<Domain>. So a message's
	// recipients are neighbours in the list: give a list that maps to one
	// backend to keep a routing proxy from answering 452 4.5.3.
	Accounts []imapload.Account
	Domain   string // default "example.org"
	From     string // reverse path (default "bench@bench.test")
	Helo     string // EHLO/LHLO name (default "bench.test")
	// MessageSize is the size of every message in bytes, headers and
	// CRLFs included, before dot-stuffing (default 1024); see MessageBody.
	MessageSize int
	// Recipients per message (default 1; len(Accounts) must be at least
	// that).
	Recipients int
	// PerConnection is the number of messages sent on one connection
	// before QUIT and a new connection; 0 keeps it for the whole run.
	PerConnection int
	// NoPipelining sends MAIL, each RCPT and DATA one at a time; by
	// default they go in one write when the server advertises PIPELINING.
	NoPipelining bool
	// Run: Timeout is per message, and for connect + EHLO.
	Run
}

func (o *DeliverOptions) check() (*Options, error) {
	if _, err := ParseDeliverProtocol(string(o.Protocol)); err != nil {
		return nil, err
	}
	if o.MessageSize == 0 {
		o.MessageSize = 1024
	}
	if o.MessageSize < MinMessageSize || o.MessageSize > MaxMessageSize {
		return nil, fmt.Errorf("message size %d: want %d..%d bytes", o.MessageSize, MinMessageSize, MaxMessageSize)
	}
	if o.Recipients == 0 {
		o.Recipients = 1
	}
	if o.Recipients < 1 || o.Recipients > MaxRecipients {
		return nil, fmt.Errorf("recipients %d: want 1..%d", o.Recipients, MaxRecipients)
	}
	if len(o.Accounts) < o.Recipients {
		return nil, fmt.Errorf("%d recipients per message need at least as many accounts (have %d)", o.Recipients, len(o.Accounts))
	}
	if o.PerConnection < 0 || o.PerConnection > MaxPerConnection {
		return nil, fmt.Errorf("per-connection %d: want 0..%d", o.PerConnection, MaxPerConnection)
	}
	if o.Domain == "" {
		o.Domain = "example.org"
	}
	if o.From == "" {
		o.From = "bench@bench.test"
	}
	if strings.ContainsAny(o.From+o.Domain+o.Helo, "<> \r\n") {
		return nil, errors.New("from, domain and helo must not contain spaces, angle brackets or line breaks")
	}
	// The shared checks (target, sources, timeout, concurrency, duration,
	// count, progress) are the login storm's.
	lo := &Options{Protocol: Submission, Target: o.Target, Accounts: o.Accounts, Helo: o.Helo, Run: o.Run}
	if err := lo.Check(); err != nil {
		return nil, err
	}
	o.Helo, o.Run = lo.Helo, lo.Run
	lo.Protocol = o.Protocol
	return lo, nil
}

// rcpt is the address of account i.
func (o *DeliverOptions) rcpt(i int64) string {
	return RcptAddress(o.Accounts[i%int64(len(o.Accounts))].User, o.Domain)
}

// RcptAddress is the recipient address the deliver scenario makes of an
// account name: the name itself if it has an '@', else name@domain.
func RcptAddress(user, domain string) string {
	if strings.Contains(user, "@") {
		return user
	}
	return user + "@" + domain
}

// messageHeader starts every generated message.
const messageHeader = "From: <bench@bench.test>\r\nTo: undisclosed-recipients:;\r\n" +
	"Subject: switchyard-bench deliver\r\nMessage-ID: <deliver@bench.test>\r\n\r\n"

// MessageBody returns the message the deliver scenario sends, exactly size
// bytes (at least MinMessageSize): a fixed header block, then lines of at
// most 78 characters plus CRLF, every 16th starting with "." so that
// dot-stuffing is exercised. This is what a server records, dot-unstuffed.
func MessageBody(size int) []byte {
	if size < MinMessageSize {
		size = MinMessageSize
	}
	b := make([]byte, 0, size)
	b = append(b, messageHeader...)
	line := func(n, i int) { // n bytes including CRLF
		for j := 0; j < n-2; j++ {
			c := byte('a' + (i+j)%26)
			if j == 0 && i%16 == 15 {
				c = '.'
			}
			b = append(b, c)
		}
		b = append(b, '\r', '\n')
	}
	i := 0
	for r := size - len(b); r > 0; r = size - len(b) {
		switch {
		case r > 160:
			line(80, i)
		case r >= 4:
			line(r/2, i)
			i++
			line(r-r/2, i)
		default: // not reached: the header is far shorter than MinMessageSize
			line(r, i)
		}
		i++
	}
	return b[:size]
}

// dotStuff returns the DATA payload for msg: a "." doubled at the start of
// each line, then the ".\r\n" terminator. msg ends in CRLF.
func dotStuff(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+len(msg)/64+3)
	bol := true
	for _, c := range msg {
		if bol && c == '.' {
			out = append(out, '.')
		}
		out = append(out, c)
		bol = c == '\n'
	}
	return append(out, ".\r\n"...)
}

// DeliverResult is the deliver scenario's result: imapload's fields (ops
// = messages delivered to every recipient, latency = MAIL to the final
// reply) and the protocol, plus the message facts.
type DeliverResult struct {
	Result
	MessageSize   int  `json:"message_size"`
	Recipients    int  `json:"recipients"`
	PerConnection int  `json:"per_connection"`
	Pipelining    bool `json:"pipelining"`
	// Connections opened; RcptsDelivered counts recipients that got a 2xx
	// final reply; Partial counts messages some but not all recipients
	// of which were accepted (not in Ops).
	Connections    int64   `json:"connections"`
	RcptsDelivered int64   `json:"rcpts_delivered"`
	Partial        int64   `json:"partial"`
	MBPerSec       float64 `json:"mb_per_sec"` // message bytes of Ops per second, 10^6 bytes
}

// WriteText prints r as a table, like imapload's.
func (r *DeliverResult) WriteText(w io.Writer) error {
	tw, p := run.NewTable(w)
	p("scenario", "%s", r.Scenario)
	p("protocol", "%s", r.Protocol)
	p("target", "%s", r.Target)
	perConn := "all on one connection per client"
	if r.PerConnection > 0 {
		perConn = fmt.Sprintf("%d per connection", r.PerConnection)
	}
	pipe := "pipelined"
	if !r.Pipelining {
		pipe = "not pipelined"
	}
	p("messages", "%d bytes, %d recipient(s) each, %s, %s", r.MessageSize, r.Recipients, perConn, pipe)
	run.WriteRun(p, &r.Result.Result)
	p("operations", "%d ok, %d failed", r.Ops, r.Errors)
	p("delivered", "%d messages, %d recipients, %d partial, %d connections", r.Ops, r.RcptsDelivered, r.Partial, r.Connections)
	p("throughput", "%.0f messages/s, %.1f MB/s", r.OpsPerSec, r.MBPerSec)
	p("latency (ms)", "%s", run.FmtSummary(r.Latency))
	run.WritePhases(p, &r.Result.Result, "connect", "envelope", "data", "quit")
	run.WriteTail(p, &r.Result.Result, "message")
	return tw.Flush()
}

// WriteJSON writes r, indented, to path.
func (r *DeliverResult) WriteJSON(path string) error { return run.WriteJSON(path, r) }

// deliverPhases are the deliver scenario's histograms; total is a
// message, MAIL to the final reply.
type deliverPhases struct {
	connect, envelope, data, quit stats.Histogram
}

type deliverCounters struct {
	ok, rcpts, partial, conns atomic.Int64
}

// RunDeliver runs the deliver scenario against o.Target.
func RunDeliver(ctx context.Context, o DeliverOptions) (*DeliverResult, error) {
	lo, r, err := Start(ctx, o.check)
	if err != nil {
		return nil, err
	}
	defer r.Stop()

	msg := MessageBody(o.MessageSize)
	wire := dotStuff(msg)
	var (
		ph      imapload.Phases // ph.Total: per message
		dp      deliverPhases
		errs    stats.Errors
		cnt     deliverCounters
		started atomic.Int64
	)
	smp := stats.NewRunSampling(o.Sampler)
	smp.Take("start")
	res := &DeliverResult{
		Result: Result{Protocol: o.Protocol, Result: imapload.Result{
			Scenario: "deliver", Target: o.Target, TLS: imapload.TLSNone, Auth: "none",
			Concurrency: o.Concurrency, Sources: o.Sources, Started: time.Now(),
		}},
		MessageSize: o.MessageSize, Recipients: o.Recipients, PerConnection: o.PerConnection,
		Pipelining: !o.NoPipelining,
	}
	var okForProgress atomic.Int64
	stopProgress := run.StartProgress(lo.Progress, lo.ProgressEvery, string(lo.Protocol), &okForProgress, &errs, &ph.Total)
	stopTimeline := stats.StartTimeline(o.Timeline, o.Sampler, cnt.ok.Load, errs.Total, func() int64 { return cnt.ok.Load() * int64(o.MessageSize) }, &ph.Total)
	t0 := time.Now()
	storm.Workers(o.Concurrency, func() {
		dw := &deliverWorker{o: &o, d: r.Dialer, wire: wire, ph: &ph, dp: &dp, errs: &errs, cnt: &cnt, started: &started, okp: &okForProgress}
		run.Connections(r, o.Count, &started, &errs, dw.connection)
	})
	wall, timeline := storm.Finish(t0, stopTimeline, stopProgress, smp)
	res.Timeline = timeline

	res.Result.Result.SetCounts(wall, cnt.ok.Load(), &errs, &ph.Total)
	res.Phases = map[string]stats.Summary{"connect": dp.connect.Summarize(), "envelope": dp.envelope.Summarize(), "data": dp.data.Summarize()}
	if dp.quit.Count() > 0 {
		res.Phases["quit"] = dp.quit.Summarize()
	}
	res.Connections = cnt.conns.Load()
	res.RcptsDelivered = cnt.rcpts.Load()
	res.Partial = cnt.partial.Load()
	res.MBPerSec = float64(res.Ops) * float64(o.MessageSize) / wall.Seconds() / 1e6
	res.Result.Result.SetCost(smp, "")
	return res, nil
}

type deliverWorker struct {
	o       *DeliverOptions
	d       *sources.Dialer
	wire    []byte
	ph      *imapload.Phases
	dp      *deliverPhases
	errs    *stats.Errors
	cnt     *deliverCounters
	started *atomic.Int64
	okp     *atomic.Int64

	c          *conn
	pipelining bool
	size       bool
	buf        []byte
	// delivered tells whether the last message reached every recipient.
	delivered bool
}

// open connects, reads the greeting and sends EHLO/LHLO; w.c is the
// connection on success and nil on failure.
func (w *deliverWorker) open(ctx context.Context) *run.OpError {
	o := w.o
	t0 := time.Now()
	nc, err := w.d.Dial(ctx)
	if err != nil {
		return run.Fail("connect", err)
	}
	w.cnt.conns.Add(1)
	_ = nc.SetDeadline(t0.Add(o.Timeout))
	w.c = newConn(nc)
	failed := func(err error) *run.OpError {
		w.c.Close()
		w.c = nil
		return run.Fail("connect", err)
	}
	if _, err := w.expect('2'); err != nil {
		return failed(err)
	}
	hello := "EHLO "
	if o.Protocol == LMTP {
		hello = "LHLO "
	}
	if err := w.c.send(hello, o.Helo); err != nil {
		return failed(err)
	}
	caps, err := w.expect('2')
	if err != nil {
		return failed(err)
	}
	w.pipelining, w.size = false, false
	for _, l := range caps {
		if len(l) < 4 {
			continue
		}
		kw, _, _ := strings.Cut(strings.ToUpper(l[4:]), " ")
		switch kw {
		case "PIPELINING":
			w.pipelining = !o.NoPipelining
		case "SIZE":
			w.size = true
		}
	}
	w.dp.connect.RecordDuration(time.Since(t0))
	return nil
}

// connection opens a connection, sends messages on it and closes it.
// more is false when the run is over (Count reached).
func (w *deliverWorker) connection(ctx context.Context) (more bool, _ *run.OpError) {
	o := w.o
	if oe := w.open(ctx); oe != nil {
		return true, oe
	}
	c := w.c
	defer func() {
		c.Close()
		w.c = nil
	}()
	nc := c.c
	for m := 0; o.PerConnection == 0 || m < o.PerConnection; m++ {
		if ctx.Err() != nil {
			break
		}
		n := w.started.Add(1)
		if o.Count > 0 && n > o.Count {
			w.quit()
			return false, nil
		}
		_ = nc.SetDeadline(time.Now().Add(o.Timeout))
		inSync, oe := w.message(n - 1)
		if oe != nil {
			w.errs.Add(oe.Kind())
		}
		if !inSync {
			return true, nil // the connection is unusable: reconnect
		}
	}
	_ = nc.SetDeadline(time.Now().Add(o.Timeout))
	w.quit()
	return true, nil
}

// quit sends QUIT, reads the reply and waits for the server to close.
func (w *deliverWorker) quit() {
	tq := time.Now()
	if w.c.send("QUIT") != nil {
		return
	}
	if _, err := w.expect('2'); err != nil {
		return
	}
	w.dp.quit.RecordDuration(time.Since(tq))
	w.c.closeAfter(w.o.Linger)
}

// expect reads one reply; a code of another class is a StatusError.
// It returns the reply's lines.
func (w *deliverWorker) expect(class byte) ([]string, error) {
	var lines []string
	for n := 0; ; n++ {
		l, err := w.c.line()
		if err != nil {
			return lines, err
		}
		if len(l) < 3 || n > 1000 {
			return lines, fmt.Errorf("%w: %q", errUnexpected, l)
		}
		lines = append(lines, l)
		if len(l) > 3 && l[3] == '-' {
			continue
		}
		if l[0] == class {
			return lines, nil
		}
		return lines, statusError(l)
	}
}

func statusError(l string) *StatusError {
	e := &StatusError{Status: l[:3], Text: l}
	if f := strings.Fields(l[3:]); len(f) > 0 && len(f[0]) >= 5 && f[0][1] == '.' && f[0][0] >= '2' && f[0][0] <= '5' {
		e.Code = f[0]
	}
	return e
}

// isStatus reports whether err is a refusal (the connection is in sync).
func isStatus(err error) bool {
	var se *StatusError
	return errors.As(err, &se)
}

// message sends message n. inSync is false when the connection cannot
// carry another message (an I/O error or an unexpected reply). Refused
// recipients are counted here; the returned error is the first other one.
func (w *deliverWorker) message(n int64) (inSync bool, _ *run.OpError) {
	o := w.o
	t0 := time.Now()
	w.delivered = false
	w.buf = w.buf[:0]
	w.buf = append(w.buf, "MAIL FROM:<"...)
	w.buf = append(w.buf, o.From...)
	w.buf = append(w.buf, '>')
	if w.size {
		w.buf = append(w.buf, " SIZE="...)
		w.buf = strconv.AppendInt(w.buf, int64(o.MessageSize), 10)
	}
	w.buf = append(w.buf, '\r', '\n')
	rcpts := make([]string, o.Recipients)
	for j := range rcpts {
		rcpts[j] = o.rcpt(n*int64(o.Recipients) + int64(j))
	}

	// Envelope: pipelined in one write, or one command at a time.
	send := func(parts ...string) error {
		w.buf = w.buf[:0]
		for _, p := range parts {
			w.buf = append(w.buf, p...)
		}
		w.buf = append(w.buf, '\r', '\n')
		_, err := w.c.c.Write(w.buf)
		return err
	}
	if w.pipelining {
		for _, r := range rcpts {
			w.buf = append(w.buf, "RCPT TO:<"...)
			w.buf = append(w.buf, r...)
			w.buf = append(w.buf, ">\r\n"...)
		}
		w.buf = append(w.buf, "DATA\r\n"...)
		if _, err := w.c.c.Write(w.buf); err != nil {
			return false, run.Fail("mail", err)
		}
	} else if _, err := w.c.c.Write(w.buf); err != nil {
		return false, run.Fail("mail", err)
	}
	var first *run.OpError
	note := func(oe *run.OpError) {
		if first == nil {
			first = oe
		}
	}
	// MAIL
	mailOK := true
	if _, err := w.expect('2'); err != nil {
		if !isStatus(err) {
			return false, run.Fail("mail", err)
		}
		note(run.Fail("mail", err))
		mailOK = false
	}
	// RCPT
	accepted := 0
	if w.pipelining || mailOK {
		for _, r := range rcpts {
			if !w.pipelining {
				if err := send("RCPT TO:<", r, ">"); err != nil {
					return false, run.Fail("rcpt", err)
				}
			}
			if _, err := w.expect('2'); err != nil {
				if !isStatus(err) {
					return false, run.Fail("rcpt", err)
				}
				if mailOK { // a refused recipient: count each
					w.errs.Add(run.Fail("rcpt", err).Kind())
				}
				continue
			}
			accepted++
		}
	}
	// DATA
	dataOK := false
	if w.pipelining || accepted > 0 {
		if !w.pipelining {
			if err := send("DATA"); err != nil {
				return false, run.Fail("data", err)
			}
		}
		if _, err := w.expect('3'); err != nil {
			if !isStatus(err) {
				return false, run.Fail("data", err)
			}
			if accepted > 0 {
				note(run.Fail("data", err))
			}
		} else {
			dataOK = true
		}
	}
	if !dataOK {
		// Abandon the transaction so the next MAIL is not nested.
		if err := send("RSET"); err != nil {
			return false, run.Fail("rset", err)
		}
		if _, err := w.expect('2'); err != nil {
			return isStatus(err), first
		}
		return true, first
	}
	if accepted == 0 {
		// 354 without a recipient: end the (empty) transaction.
		if err := send("."); err != nil {
			return false, run.Fail("data", err)
		}
		_, err := w.expect('2')
		return err == nil || isStatus(err), run.Fail("data", errors.New("354 without an accepted recipient"))
	}
	td := time.Now()
	w.dp.envelope.RecordDuration(td.Sub(t0))
	if _, err := w.c.c.Write(w.wire); err != nil {
		return false, run.Fail("data", err)
	}
	replies := 1
	if o.Protocol == LMTP {
		replies = accepted
	}
	delivered := 0
	for i := 0; i < replies; i++ {
		if _, err := w.expect('2'); err != nil {
			if !isStatus(err) {
				return false, run.Fail("data", err)
			}
			w.errs.Add(run.Fail("data", err).Kind()) // each refused recipient (LMTP)
			continue
		}
		delivered++
	}
	now := time.Now()
	if o.Protocol == SMTP && delivered == 1 {
		delivered = accepted
	}
	w.cnt.rcpts.Add(int64(delivered))
	switch {
	case delivered == len(rcpts):
		w.dp.data.RecordDuration(now.Sub(td))
		w.ph.Total.RecordDuration(now.Sub(t0))
		w.cnt.ok.Add(1)
		w.okp.Add(1)
		w.delivered = true
	case delivered > 0:
		w.cnt.partial.Add(1)
	}
	return true, first
}
