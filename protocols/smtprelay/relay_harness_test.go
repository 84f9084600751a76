package smtprelay

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

// relayEngine plays the engine around a Relay: it keeps the bytes either
// side left unconsumed, feeds the client again after every backend event,
// routes recipients from a table and records what each side received.
type relayEngine struct {
	t testing.TB
	r *Relay

	// routes maps a recipient to its destination; a missing recipient is
	// unknown, and a destination "?" is a temporary failure.
	routes   map[string]string
	leg      protocols.BackendLeg
	dialFail bool
	// clientBytewise and backendBytewise deliver each write one octet per
	// read.
	clientBytewise, backendBytewise bool
	// auto, when set, answers what the machine writes to the backend.
	auto    *fakeBackend
	newAuto func() *fakeBackend

	pending            []byte // client octets not consumed
	bpending           []byte // backend octets not consumed
	prototest.RelayLog        // Out taken by takeClient, Sent by TakeSent
	legUp              bool
	legGen             int // counts resets of bpending (new leg, TLS, disconnect)
	closed             bool
	dropped            bool // STARTTLS: the rest of the client's write is dropped

	// markAborted replaces what was forwarded of a message the machine
	// aborted (RelayDisconnect mid-body) by a marker: how much of it went
	// out before the abort depends on how the client's bytes were cut.
	markAborted bool
	bodyStart   int // len(sent) when the message began

	// check, when set, sees the client output of every call.
	check func(kind string, before clientPhase, owed int, clientOut, backendIn []byte)
}

func newRelayEngine(t testing.TB, cfg RelayConfig, routes map[string]string) *relayEngine {
	e := &relayEngine{t: t, r: NewRelay(cfg), routes: routes}
	e.Out = e.r.Greeting(e.Out)
	return e
}

// client delivers one client write.
func (e *relayEngine) client(data string) {
	e.dropped = false
	prototest.Deliver(data, e.clientBytewise, e.deliverClient) // a drop drops the rest
}

func (e *relayEngine) deliverClient(b []byte) {
	if e.closed || e.dropped {
		return
	}
	e.pending = append(e.pending, b...)
	e.pump()
}

// backend delivers one write of the current leg.
func (e *relayEngine) backend(data string) {
	prototest.Deliver(data, e.backendBytewise, e.deliverBackend)
}

func (e *relayEngine) deliverBackend(b []byte) {
	if e.closed || !e.legUp {
		return
	}
	e.bpending = append(e.bpending, b...)
	e.pump()
}

// down reports the leg gone (closed, timed out).
func (e *relayEngine) down() {
	if e.closed || !e.legUp {
		return
	}
	e.legDown()
	e.pump()
}

func (e *relayEngine) legDown() {
	e.legUp, e.bpending, e.auto = false, nil, nil
	e.legGen++
	e.Event("down")
	e.call("down", func(o *protocols.RelayOut) protocols.RelayEvent { return e.r.BackendDown(o) }, nil)
}

// shutdown asks the machine to drain.
func (e *relayEngine) shutdown() {
	if e.ShutDown(e.r, func(o *protocols.RelayOut) { e.apply(o, protocols.RelayNone) }) {
		e.Event("close")
		e.closed = true
	}
}

// call runs one machine call and checks its client output.
func (e *relayEngine) call(kind string, f func(*protocols.RelayOut) protocols.RelayEvent, backendIn []byte) protocols.RelayEvent {
	var o protocols.RelayOut
	before, owed := e.r.phase, e.r.body.owed
	ev := f(&o)
	if e.check != nil {
		e.check(kind, before, owed, o.Client, backendIn)
	}
	e.apply(&o, ev)
	switch {
	case !e.markAborted:
	case before == cpBody && (ev == protocols.RelayDisconnect || ev == protocols.RelayClose):
		e.Sent = append(e.Sent[:e.bodyStart], "[message aborted]"...)
	case before != cpBody && e.r.phase == cpBody:
		e.bodyStart = len(e.Sent)
	}
	return ev
}

// pump feeds both sides until neither makes progress; a fake backend
// that died is then reported down.
func (e *relayEngine) pump() {
	for !e.closed {
		e.pumpOnce()
		if e.closed || e.auto == nil || !e.auto.dead || !e.legUp {
			return
		}
		e.legDown()
	}
}

func (e *relayEngine) pumpOnce() {
	for progress := true; progress && !e.closed; {
		progress = false
		if e.legUp && len(e.bpending) > 0 {
			var n int
			in, gen := e.bpending, e.legGen
			e.call("backend", prototest.CheckedFeed(e.t, "FeedBackend", e.r.FeedBackend, in, &n), in)
			if e.legGen == gen {
				e.bpending = e.bpending[n:]
			}
			progress = progress || n > 0
		}
		if e.closed || e.dropped || len(e.pending) == 0 {
			continue
		}
		var n int
		in := e.pending
		ev := e.call("client", prototest.CheckedFeed(e.t, "FeedClient", e.r.FeedClient, in, &n), nil)
		if !e.dropped {
			e.pending = e.pending[n:]
		}
		if e.r.phase == cpCommand && ev == protocols.RelayNone && len(e.pending) > e.r.cfg.MaxLine+1 {
			e.t.Fatalf("engine holds %d client octets", len(e.pending))
		}
		progress = progress || n > 0 || ev != protocols.RelayNone
	}
}

// apply writes a call's output and acts on its event as the engine does.
func (e *relayEngine) apply(o *protocols.RelayOut, ev protocols.RelayEvent) {
	e.Out = append(e.Out, o.Client...)
	if len(o.Backend) > 0 {
		if !e.legUp {
			e.t.Fatalf("backend output %q with no leg", o.Backend)
		}
		// Commands and message alike go out as whole CRLF lines (a message
		// may stop mid-line): a backend lax about line ends reads them
		// exactly as a strict one, so it can never find an end of data, or
		// a command, where the machine saw none.
		if i := bareEOL(o.Backend); i >= 0 {
			e.t.Fatalf("bare CR or LF at %d of the backend output %q", i, o.Backend)
		}
		e.Sent = append(e.Sent, o.Backend...)
		if e.auto != nil {
			e.bpending = append(e.bpending, e.auto.receive(o.Backend)...)
		}
	}
	var o2 protocols.RelayOut
	switch ev {
	case protocols.RelayRoute:
		addr := e.r.Recipient()
		dest, outcome := prototest.Route(e.routes, addr)
		e.Event("route %s", addr)
		e.apply(&o2, e.r.Routed(dest, outcome, &o2))
	case protocols.RelayConnect:
		e.Event("connect %s", e.r.Destination())
		e.legUp, e.bpending = true, nil
		e.legGen++
		if e.dialFail {
			e.legUp = false
			e.Event("down")
			e.call("down", func(o *protocols.RelayOut) protocols.RelayEvent { return e.r.BackendDown(o) }, nil)
			return
		}
		e.apply(&o2, e.r.BackendConnected(e.leg, &o2))
		if e.newAuto != nil {
			e.auto = e.newAuto()
			e.bpending = append(e.bpending, e.auto.greeting()...)
		}
	case protocols.RelayBackendStartTLS:
		e.Event("backend starttls")
		e.bpending = nil
		e.legGen++
		e.apply(&o2, e.r.BackendTLSStarted(&o2))
	case protocols.RelayDisconnect:
		e.Event("disconnect")
		e.legUp, e.bpending, e.auto = false, nil, nil
		e.legGen++
	case protocols.RelayClose:
		e.Event("close")
		e.closed = true
	case protocols.RelayStartTLS:
		e.Event("starttls")
		e.pending, e.dropped = nil, true
		e.Out = e.r.TLSStarted(e.Out)
	}
}

func (e *relayEngine) takeClient() []string { l := prototest.Lines(e.Out); e.Out = e.Out[:0]; return l }

// expect checks and clears what each side received since the last check.
func (e *relayEngine) expect(client []string, sent string, events ...string) {
	e.t.Helper()
	if got := e.takeClient(); strings.Join(got, "\n") != strings.Join(client, "\n") {
		e.t.Fatalf("client got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(client, "\n  "))
	}
	if got := e.TakeSent(); got != sent {
		e.t.Fatalf("backend got %q, want %q", got, sent)
	}
	e.CheckEvents(e.t, events...)
}

// relayModes runs a dialogue test with whole writes, with the client's
// writes one octet at a time, and with the backend's: the results must be
// the same.
func relayModes(t *testing.T, cfg RelayConfig, routes map[string]string, test func(e *relayEngine)) {
	t.Helper()
	prototest.RelayModes(t, func(t *testing.T, clientBytewise, backendBytewise bool) {
		e := newRelayEngine(t, cfg, routes)
		e.clientBytewise, e.backendBytewise = clientBytewise, backendBytewise
		e.check = checkEndOfData(t)
		test(e)
	})
}

// replies splits client output into whole replies.
func replies(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		line := b[i : i+j+1]
		i += j + 1
		if len(line) < 4 || line[3] != '-' {
			out = append(out, b[start:i])
			start = i
		}
	}
	return out
}

// checkEndOfData returns a call check for the rule the Relay lives by: the
// replies that answer an end of data are never a success the backend did
// not send. Those replies come first in the output of a call made while a
// message is in progress; a 2xx among them is allowed only from
// FeedBackend waiting for the final replies, and only verbatim from the
// backend's bytes.
func checkEndOfData(t testing.TB) func(string, clientPhase, int, []byte, []byte) {
	return func(kind string, before clientPhase, owed int, clientOut, backendIn []byte) {
		checkReplyLines(t, clientOut)
		if before != cpBody && before != cpDiscard && before != cpFinal {
			return
		}
		rs := replies(clientOut)
		for i := 0; i < owed && i < len(rs); i++ {
			if rs[i][0] != '2' {
				continue
			}
			if kind != "backend" || before != cpFinal {
				t.Fatalf("%s call in phase %d answered the end of data with %q", kind, before, rs[i])
			}
			// The machine drops control characters inside relayed lines.
			var sent []byte
			for _, c := range backendIn {
				if c >= ' ' && c != 0x7f || c == '\n' {
					sent = append(sent, c)
				}
			}
			for line := range strings.Lines(string(rs[i])) {
				if !bytes.Contains(sent, []byte(strings.TrimSuffix(line, "\r\n"))) {
					t.Fatalf("end-of-data reply %q is not the backend's %q", rs[i], backendIn)
				}
			}
		}
	}
}

// checkReplyLines: whole CRLF lines, each "ddd", "ddd text" or "ddd-text"
// with a code from 200 to 599, continuation lines keeping the code.
func checkReplyLines(t testing.TB, out []byte) {
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		t.Fatalf("client output ends mid-line: %q", out)
	}
	code := ""
	for line := range strings.Lines(string(out)) {
		l := strings.TrimSuffix(line, "\r\n")
		if strings.ContainsAny(l, "\r\n\x00") || len(l) < 3 || l[0] < '2' || l[0] > '5' ||
			!isDigit(l[1]) || !isDigit(l[2]) || len(l) > 3 && l[3] != ' ' && l[3] != '-' {
			t.Fatalf("bad reply line %q in %q", l, out)
		}
		if code != "" && l[:3] != code {
			t.Fatalf("code changes within a reply: %q", out)
		}
		code = ""
		if len(l) > 3 && l[3] == '-' {
			code = l[:3]
		}
	}
	if code != "" {
		t.Fatalf("client output ends inside a multi-line reply: %q", out)
	}
}

// fakeBackend is a scripted SMTP/LMTP server for the engine stand-in: it
// answers the proxy's commands at once. Every 2xx it sends says "fake", and
// its end-of-data successes say "fake queued" (SMTP) or "fake delivered"
// (LMTP), each with a serial number, so that a success the proxy made up
// cannot pass for one of them.
type fakeBackend struct {
	lmtp   bool
	ehlo   string // the EHLO/LHLO reply
	buf    []byte // command octets not yet answered
	data   []byte // the message in progress, after a virtual CRLF
	inData bool
	rcpts  int
	serial *int
	finals *[]string // end-of-data replies sent, all legs
	closed bool
	// lax ends the data at a lone dot between any line ends, bare CR or
	// LF included, as servers open to SMTP smuggling do (Postfix before
	// smtpd_forbid_bare_newline, for one): fed a smuggling attempt, it
	// would run what follows as commands.
	lax     bool
	refuse  string // a recipient containing it is refused (550)
	tempRcp string // a recipient containing it is deferred (450)
	// dieAfter, when positive, is the command (an end of data counts as
	// one) the backend never answers: it is dead from then on.
	dieAfter int
	commands int
	dead     bool
}

// endOfData looks for the end of data in f.data from from on and returns
// where what follows it starts.
func (f *fakeBackend) endOfData(from int) (int, bool) {
	d := f.data
	if !f.lax {
		i := bytes.Index(d[from:], []byte("\r\n.\r\n"))
		return from + i + 5, i >= 0
	}
	for i := max(from, 1); i+1 < len(d); i++ {
		if d[i] != '.' || d[i-1] != '\n' && d[i-1] != '\r' {
			continue
		}
		switch {
		case d[i+1] == '\n':
			return i + 2, true
		case d[i+1] != '\r':
		case i+2 == len(d):
			return 0, false // CRLF or a bare CR: the next octet says
		case d[i+2] == '\n':
			return i + 3, true
		default:
			return i + 2, true
		}
	}
	return 0, false
}

// died counts a command and reports whether it killed the backend.
func (f *fakeBackend) died() bool {
	f.commands++
	f.dead = f.dead || f.dieAfter > 0 && f.commands >= f.dieAfter
	return f.dead
}

func (f *fakeBackend) greeting() string { return "220 fake.backend ESMTP\r\n" }

func (f *fakeBackend) receive(b []byte) []byte {
	var out []byte
	f.buf = append(f.buf, b...)
	for !f.closed && !f.dead && len(f.buf) > 0 {
		if f.inData {
			from := max(len(f.data)-4, 0) // the end may straddle two writes
			f.data = append(f.data, f.buf...)
			f.buf = f.buf[:0]
			next, ok := f.endOfData(from)
			if !ok {
				return out
			}
			f.buf = append(f.buf, f.data[next:]...)
			f.data, f.inData = nil, false
			if f.died() {
				return out
			}
			n := 1
			if f.lmtp {
				n = f.rcpts
			}
			for range n {
				*f.serial++
				r := fmt.Sprintf("250 2.0.0 fake queued Q%d\r\n", *f.serial)
				if f.lmtp {
					r = fmt.Sprintf("250 2.0.0 fake delivered Q%d\r\n", *f.serial)
				}
				*f.finals = append(*f.finals, r)
				out = append(out, r...)
			}
			f.rcpts = 0
			continue
		}
		i := bytes.IndexByte(f.buf, '\n')
		if i < 0 {
			return out
		}
		line := string(bytes.TrimRight(f.buf[:i+1], "\r\n"))
		f.buf = f.buf[i+1:]
		if f.died() {
			return out
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "LHLO":
			out = append(out, f.ehlo...)
		case "STARTTLS":
			out = append(out, "220 2.0.0 fake go ahead\r\n"...)
		case "XCLIENT":
			out = append(out, f.greeting()...)
		case "MAIL":
			f.rcpts = 0
			out = append(out, "250 2.1.0 fake sender ok\r\n"...)
		case "RCPT":
			switch {
			case f.refuse != "" && strings.Contains(arg, f.refuse):
				out = append(out, "550 5.1.1 fake no such user\r\n"...)
			case f.tempRcp != "" && strings.Contains(arg, f.tempRcp):
				out = append(out, "450 4.2.0 fake try later\r\n"...)
			default:
				f.rcpts++
				out = append(out, "250 2.1.5 fake recipient ok\r\n"...)
			}
		case "DATA":
			if f.rcpts == 0 {
				out = append(out, "554 5.5.1 fake no recipients\r\n"...)
				break
			}
			f.inData, f.data = true, []byte("\r\n")
			out = append(out, "354 fake go ahead\r\n"...)
		case "RSET":
			f.rcpts = 0
			out = append(out, "250 2.0.0 fake reset\r\n"...)
		case "QUIT":
			f.closed = true
			out = append(out, "221 2.0.0 fake bye\r\n"...)
		default:
			out = append(out, "502 5.5.2 fake what\r\n"...)
		}
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
