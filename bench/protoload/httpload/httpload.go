// Package httpload is protoload's http scenario: JMAP-like POSTs over
// HTTP/1.1 keep-alive connections, with its own strict response reader,
// counting statuses and the backends that answered.
package httpload

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/internal/sources"
	"github.com/switchyard-mail/switchyard/bench/internal/storm"
	"github.com/switchyard-mail/switchyard/bench/protoload"
	"github.com/switchyard-mail/switchyard/bench/protoload/internal/run"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// HTTP is the http scenario's protocol: JMAP-like POSTs over HTTP/1.1
// keep-alive connections.
const HTTP protoload.Protocol = "http"

// Bounds of the http scenario.
const (
	DefaultBodySize = 300
	MaxBodySize     = 1 << 20
	// maxHeadLine bounds one line of a response head (the reader's
	// buffer); maxHeadLines the lines of one head; maxChunks the chunks of
	// one chunked body; maxDiscard what is read of a body up to the close.
	maxHeadLine  = 8 << 10
	maxHeadLines = 200
	maxChunks    = 100_000
	maxDiscard   = 64 << 20
	// maxBackends bounds the distinct backend names counted.
	maxBackends = 64
)

// HTTPOptions configure the http scenario: each of Concurrency workers
// holds a keep-alive connection and sends POST Path with a JSON body of
// BodySize bytes and "Authorization: Basic" of an account, one request at
// a time, reconnecting every PerConnection requests (0: never), until
// Duration passes or Count requests were sent.
type HTTPOptions struct {
	Target string // host:port
	// TLS is none or implicit (https); TLSConfig as for the login storm.
	TLS       imapload.TLSMode
	TLSConfig *tls.Config
	// Host is the Host header (default: Target); Path the request path
	// (default "/jmap/api").
	Host, Path string
	// Accounts: connection n (counting from 0) carries the credentials of
	// account n modulo the list on every request, as a client of one
	// account does; with AccountPerRequest, request n carries account n
	// (as the login storm picks them), so the accounts, and a routing
	// proxy's destinations, change from request to request on one
	// connection.
	Accounts          []imapload.Account
	AccountPerRequest bool
	// BodySize is the size of the JSON body in bytes (default 300, at
	// least len(JMAPBody(0))); see JMAPBody.
	BodySize int
	// PerConnection is the number of requests on one connection; the last
	// one says "Connection: close" and the server closes first. 0 keeps
	// the connection for the whole run.
	PerConnection int
	// Run: Timeout is per request, and for connect + TLS.
	protoload.Run
}

func (o *HTTPOptions) check() (*protoload.Options, error) {
	if o.BodySize == 0 {
		o.BodySize = DefaultBodySize
	}
	if min := len(JMAPBody(0)); o.BodySize < min || o.BodySize > MaxBodySize {
		return nil, fmt.Errorf("body size %d: want %d..%d bytes", o.BodySize, min, MaxBodySize)
	}
	if o.PerConnection < 0 || o.PerConnection > protoload.MaxPerConnection {
		return nil, fmt.Errorf("per-connection %d: want 0..%d", o.PerConnection, protoload.MaxPerConnection)
	}
	if o.Path == "" {
		o.Path = "/jmap/api"
	}
	if o.Host == "" {
		o.Host = o.Target
	}
	if !strings.HasPrefix(o.Path, "/") || strings.ContainsAny(o.Path+o.Host, " \r\n") {
		return nil, fmt.Errorf("path %q must start with / and neither path nor host %q may hold spaces or line breaks", o.Path, o.Host)
	}
	// The shared checks (target, TLS, accounts, sources, timeout,
	// concurrency, duration, count, linger, progress) are the login storm's.
	lo := &protoload.Options{
		Protocol: protoload.Submission, Target: o.Target, TLS: o.TLS, TLSConfig: o.TLSConfig, Accounts: o.Accounts, Run: o.Run,
	}
	if err := lo.Check(); err != nil {
		return nil, err
	}
	o.TLS, o.TLSConfig, o.Run = lo.TLS, lo.TLSConfig, lo.Run
	lo.Protocol = HTTP
	return lo, nil
}

// jmapCalls is the fixed part of every body: a JMAP request with two
// method calls; JMAPBody pads it to the size asked.
const (
	jmapHead = `{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[` +
		`["Mailbox/get",{"accountId":"a0","ids":null},"c0"],` +
		`["Email/query",{"accountId":"a0","filter":{"inMailbox":"inbox"},"sort":[{"property":"receivedAt","isAscending":false}],"limit":20},"c1"]],"pad":"`
	jmapTail = `"}`
)

// JMAPBody returns the JSON body the http scenario sends: a JMAP request
// (Mailbox/get and Email/query) whose "pad" member fills it to exactly
// size bytes; a size below the bare request's length gives the bare
// request.
func JMAPBody(size int) []byte {
	n := size - len(jmapHead) - len(jmapTail)
	if n < 0 {
		n = 0
	}
	b := make([]byte, 0, len(jmapHead)+n+len(jmapTail))
	b = append(b, jmapHead...)
	for i := 0; i < n; i++ {
		b = append(b, byte('a'+i%26))
	}
	return append(b, jmapTail...)
}

// HTTPResult is the http scenario's result: imapload's fields (ops =
// requests answered 2xx, latency = request written to response read) and
// the request facts, status codes and the backends that answered.
type HTTPResult struct {
	protoload.Result
	Path          string `json:"path"`
	BodySize      int    `json:"body_size"`
	PerConnection int    `json:"per_connection"`
	// AccountPerRequest: the account changed with every request rather
	// than with every connection.
	AccountPerRequest bool `json:"account_per_request,omitempty"`
	// Connections opened; Statuses counts every response by code;
	// Backends the 2xx answers by the "backend" member of their JSON
	// (bench/mockhttp names itself there).
	Connections int64            `json:"connections"`
	Statuses    map[string]int64 `json:"statuses"`
	Backends    map[string]int64 `json:"backends,omitempty"`
}

// WriteText prints r as a table, like the deliver scenario's.
func (r *HTTPResult) WriteText(w io.Writer) error {
	tw, p := run.NewTable(w)
	p("scenario", "%s", r.Scenario)
	p("protocol", "%s", r.Protocol)
	p("target", "%s (tls %s)", r.Target, r.TLS)
	perConn := "keep-alive, one connection per client"
	if r.PerConnection > 0 {
		perConn = fmt.Sprintf("%d per connection", r.PerConnection)
	}
	acct := "an account per connection"
	if r.AccountPerRequest {
		acct = "an account per request"
	}
	p("requests", "POST %s, %d-byte JSON body, Basic auth (%s), %s", r.Path, r.BodySize, acct, perConn)
	run.WriteRun(p, &r.Result.Result)
	p("operations", "%d ok, %d failed, %d connections", r.Ops, r.Errors, r.Connections)
	p("throughput", "%.0f requests/s", r.OpsPerSec)
	p("latency (ms)", "%s", run.FmtSummary(r.Latency))
	run.WritePhases(p, &r.Result.Result, "connect", "tls")
	p("statuses", "%s", fmtCounts(r.Statuses))
	if len(r.Backends) > 0 {
		p("backends", "%s", fmtCounts(r.Backends))
	}
	run.WriteTail(p, &r.Result.Result, "request")
	return tw.Flush()
}

// WriteJSON writes r, indented, to path.
func (r *HTTPResult) WriteJSON(path string) error { return run.WriteJSON(path, r) }

// fmtCounts prints "k1 n1, k2 n2" in key order.
func fmtCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, m[k])
	}
	return b.String()
}

// httpShared is what the workers of one run share.
type httpShared struct {
	o       *HTTPOptions
	d       *sources.Dialer
	body    []byte
	head    []byte   // request line and fixed headers, up to "Authorization: Basic "
	auths   []string // base64 credentials of each account
	total   stats.Histogram
	connect stats.Histogram
	tls     stats.Histogram
	errs    stats.Errors
	ok      atomic.Int64
	conns   atomic.Int64
	bytes   atomic.Int64
	started atomic.Int64

	mu       sync.Mutex
	statuses map[string]int64
	backends map[string]int64
}

// RunHTTP runs the http scenario against o.Target.
func RunHTTP(ctx context.Context, o HTTPOptions) (*HTTPResult, error) {
	lo, r, err := protoload.Start(ctx, o.check)
	if err != nil {
		return nil, err
	}
	defer r.Stop()

	sh := &httpShared{o: &o, d: r.Dialer, body: JMAPBody(o.BodySize), statuses: map[string]int64{}, backends: map[string]int64{}}
	sh.head = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: switchyard-bench\r\nAccept: application/json\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nAuthorization: Basic ", o.Path, o.Host, len(sh.body))
	sh.auths = make([]string, len(o.Accounts))
	for i, a := range o.Accounts {
		sh.auths[i] = base64.StdEncoding.EncodeToString([]byte(a.User + ":" + a.Password))
	}
	smp := stats.NewRunSampling(o.Sampler)
	smp.Take("start")
	res := &HTTPResult{
		Result: protoload.Result{Protocol: HTTP, Result: imapload.Result{
			Scenario: "http", Target: o.Target, TLS: o.TLS, Auth: "basic",
			Concurrency: o.Concurrency, Sources: o.Sources, Started: time.Now(),
		}},
		Path: o.Path, BodySize: o.BodySize, PerConnection: o.PerConnection, AccountPerRequest: o.AccountPerRequest,
	}
	// The progress line quotes p99 of this histogram.
	var ph stats.Histogram
	var okp atomic.Int64
	stopProgress := run.StartProgress(lo.Progress, lo.ProgressEvery, string(lo.Protocol), &okp, &sh.errs, &ph)
	stopTimeline := stats.StartTimeline(o.Timeline, o.Sampler, sh.ok.Load, sh.errs.Total, sh.bytes.Load, &sh.total)
	t0 := time.Now()
	storm.Workers(o.Concurrency, func() {
		w := &httpWorker{sh: sh, okp: &okp, ph: &ph, statuses: map[string]int64{}, backends: map[string]int64{}}
		defer w.flush()
		run.Connections(r, o.Count, &sh.started, &sh.errs, w.connection)
	})
	wall, timeline := storm.Finish(t0, stopTimeline, stopProgress, smp)
	res.Timeline = timeline

	res.Result.Result.SetCounts(wall, sh.ok.Load(), &sh.errs, &sh.total)
	res.Phases = map[string]stats.Summary{"connect": sh.connect.Summarize()}
	if o.TLS == imapload.TLSImplicit {
		res.Phases["tls"] = sh.tls.Summarize()
	}
	res.Connections = sh.conns.Load()
	res.Statuses, res.Backends = sh.statuses, sh.backends
	if len(res.Backends) == 0 {
		res.Backends = nil
	}
	res.Result.Result.SetCost(smp, "")
	return res, nil
}

// httpWorker is one client: a connection at a time, one request in flight.
type httpWorker struct {
	sh  *httpShared
	okp *atomic.Int64
	ph  *stats.Histogram // feeds the progress line

	nc   net.Conn
	r    *bufio.Reader
	acct int64 // the connection's account (index)
	buf  []byte

	statuses, backends map[string]int64
}

// flush adds the worker's status and backend counts to the run's.
func (w *httpWorker) flush() {
	sh := w.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k, v := range w.statuses {
		sh.statuses[k] += v
	}
	for k, v := range w.backends {
		if _, ok := sh.backends[k]; ok || len(sh.backends) < maxBackends {
			sh.backends[k] += v
		}
	}
}

// open connects (and handshakes TLS); w.nc is the connection on success.
func (w *httpWorker) open(ctx context.Context) *run.OpError {
	o := w.sh.o
	t0 := time.Now()
	nc, oe := run.Dial(ctx, w.sh.d, o.Timeout, o.TLS == imapload.TLSImplicit, o.TLSConfig, &w.sh.tls)
	if oe == nil || oe.Phase == "tls" {
		w.acct = w.sh.conns.Add(1) - 1 // a TCP connection was made
	}
	if oe != nil {
		return oe
	}
	w.sh.connect.RecordDuration(time.Since(t0))
	w.nc = nc
	if w.r == nil {
		w.r = bufio.NewReaderSize(nc, maxHeadLine)
	} else {
		w.r.Reset(nc)
	}
	return nil
}

// connection opens a connection and sends requests on it until the run
// ends, PerConnection requests were answered, or it breaks. more is false
// when the run is over (Count reached).
func (w *httpWorker) connection(ctx context.Context) (more bool, _ *run.OpError) {
	o := w.sh.o
	if oe := w.open(ctx); oe != nil {
		return true, oe
	}
	defer func() {
		w.nc.Close()
		w.nc = nil
	}()
	for m := 0; o.PerConnection == 0 || m < o.PerConnection; m++ {
		if ctx.Err() != nil {
			return true, nil
		}
		n := w.sh.started.Add(1)
		if o.Count > 0 && n > o.Count {
			return false, nil
		}
		last := o.PerConnection > 0 && m == o.PerConnection-1
		keep, oe := w.request(n-1, last)
		if oe != nil {
			w.sh.errs.Add(oe.Kind())
		}
		if last && oe == nil {
			// The server closes after answering "Connection: close":
			// wait for that, so TIME_WAIT stays on its side.
			_ = w.nc.SetReadDeadline(time.Now().Add(o.Linger))
			_, _ = w.r.Discard(maxDiscard)
		}
		if !keep {
			return true, nil
		}
	}
	return true, nil
}

// request sends request n and reads its response. keep is false when the
// connection cannot carry another request (an I/O error, a malformed
// response, or the server closing it).
func (w *httpWorker) request(n int64, last bool) (keep bool, _ *run.OpError) {
	sh := w.sh
	a := w.acct
	if sh.o.AccountPerRequest {
		a = n
	}
	b := append(w.buf[:0], sh.head...)
	b = append(b, sh.auths[a%int64(len(sh.auths))]...)
	b = append(b, "\r\n"...)
	if last {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, sh.body...)
	w.buf = b
	t0 := time.Now()
	_ = w.nc.SetDeadline(t0.Add(sh.o.Timeout))
	if _, err := w.nc.Write(b); err != nil {
		return false, run.Fail("request", err)
	}
	status, closing, backend, err := w.response()
	if err != nil {
		return false, run.Fail("response", err)
	}
	now := time.Now()
	code := strconv.Itoa(status)
	w.statuses[code]++
	keep = !closing
	if status < 200 || status > 299 {
		return keep, run.Fail("status", &protoload.StatusError{Status: code, Text: "HTTP status " + code})
	}
	d := now.Sub(t0)
	sh.total.RecordDuration(d)
	w.ph.RecordDuration(d)
	sh.ok.Add(1)
	sh.bytes.Add(int64(len(b)))
	w.okp.Add(1)
	if backend != "" {
		w.backends[backend]++
	}
	return keep, nil
}

var errMalformed = errors.New("malformed response")

// headLine reads one line of a response head without its line end.
func (w *httpWorker) headLine() ([]byte, error) {
	l, err := w.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: head line longer than %d bytes", errMalformed, maxHeadLine)
		}
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimRight(l, "\r\n"), nil
}

// response reads one response (skipping 1xx interim ones): its status,
// whether the connection closes after it, and the "backend" member of a
// JSON body when the body fits the buffer.
func (w *httpWorker) response() (status int, closing bool, backend string, err error) {
	for interim := 0; ; interim++ {
		l, err := w.headLine()
		if err != nil {
			return 0, true, "", err
		}
		// "HTTP/1.1 200 OK"
		if len(l) < 12 || !bytes.HasPrefix(l, []byte("HTTP/1.")) || l[8] != ' ' {
			return 0, true, "", fmt.Errorf("%w: status line %q", errMalformed, l)
		}
		status, err = strconv.Atoi(string(l[9:12]))
		if err != nil || status < 100 {
			return 0, true, "", fmt.Errorf("%w: status line %q", errMalformed, l)
		}
		closing = l[7] == '0' // HTTP/1.0 closes unless it says keep-alive
		length, chunked := int64(-1), false
		for i := 0; ; i++ {
			h, err := w.headLine()
			if err != nil {
				return 0, true, "", err
			}
			if len(h) == 0 {
				break
			}
			if i >= maxHeadLines {
				return 0, true, "", fmt.Errorf("%w: more than %d header lines", errMalformed, maxHeadLines)
			}
			k, v, ok := bytes.Cut(h, []byte(":"))
			if !ok {
				return 0, true, "", fmt.Errorf("%w: header line %q", errMalformed, h)
			}
			v = bytes.TrimSpace(v)
			switch {
			case asciiEq(k, "content-length"):
				length, err = strconv.ParseInt(string(v), 10, 64)
				if err != nil || length < 0 {
					return 0, true, "", fmt.Errorf("%w: Content-Length %q", errMalformed, v)
				}
			case asciiEq(k, "transfer-encoding"):
				chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
			case asciiEq(k, "connection"):
				lv := bytes.ToLower(v)
				if bytes.Contains(lv, []byte("close")) {
					closing = true
				} else if bytes.Contains(lv, []byte("keep-alive")) {
					closing = false
				}
			}
		}
		if status >= 100 && status < 200 && status != 101 {
			if interim >= 5 {
				return 0, true, "", fmt.Errorf("%w: more than 5 interim responses", errMalformed)
			}
			continue
		}
		switch {
		case status == 204 || status == 304 || status == 101:
		case chunked:
			err = w.chunked()
		case length >= 0:
			backend, err = w.body(length)
		default: // the body runs to the close
			_, _ = w.r.Discard(maxDiscard)
			closing = true
		}
		return status, closing, backend, err
	}
}

// body reads a body of length bytes, picking the backend's name out of it.
func (w *httpWorker) body(length int64) (string, error) {
	var backend string
	if length <= int64(w.r.Size()) {
		b, err := w.r.Peek(int(length))
		if err != nil {
			return "", eofIsUnexpected(err)
		}
		backend = backendOf(b)
	}
	if _, err := w.r.Discard(int(min(length, maxDiscard))); err != nil {
		return "", eofIsUnexpected(err)
	}
	if length > maxDiscard {
		return "", fmt.Errorf("%w: body of %d bytes", errMalformed, length)
	}
	return backend, nil
}

// chunked reads a chunked body and its trailer.
func (w *httpWorker) chunked() error {
	for i := 0; i < maxChunks; i++ {
		l, err := w.headLine()
		if err != nil {
			return err
		}
		hexLen, _, _ := bytes.Cut(l, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(hexLen)), 16, 64)
		if err != nil || n < 0 || n > maxDiscard {
			return fmt.Errorf("%w: chunk size %q", errMalformed, l)
		}
		if n == 0 {
			for j := 0; j < maxHeadLines; j++ { // trailer
				t, err := w.headLine()
				if err != nil {
					return err
				}
				if len(t) == 0 {
					return nil
				}
			}
			return fmt.Errorf("%w: trailer too long", errMalformed)
		}
		if _, err := w.r.Discard(int(n)); err != nil {
			return eofIsUnexpected(err)
		}
		if _, err := w.headLine(); err != nil { // CRLF after the data
			return err
		}
	}
	return fmt.Errorf("%w: more than %d chunks", errMalformed, maxChunks)
}

func eofIsUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// backendOf returns the value of the first "backend":"..." in a JSON body.
func backendOf(b []byte) string {
	const key = `"backend":"`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return ""
	}
	b = b[i+len(key):]
	j := bytes.IndexByte(b, '"')
	if j < 0 || j > 64 {
		return ""
	}
	return string(b[:j])
}

// asciiEq reports whether b equals the lower-case s, ignoring ASCII case.
func asciiEq(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
