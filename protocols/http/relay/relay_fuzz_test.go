package relay

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/http/codec"
	"github.com/switchyard-mail/switchyard/protocols/http/rules"
	"github.com/switchyard-mail/switchyard/protocols/http/rules/rulestest"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

// scriptedBackend answers what a leg receives: it reads the forwarded
// stream with the strict parser (a head it cannot read is a bug of the
// relay) and answers each request once its body is in, with the response
// the script names for it. Every response carries a serial number.
type scriptedBackend struct {
	t      testing.TB
	script []byte
	serial int
	legs   map[*fakeLeg]*scriptedLeg
	// verified: the relay verifies bearer tokens (only fuzzGoodToken
	// passes), so no request the backend reads may carry another one.
	verified bool
}

// fuzzGoodToken is the one token the fuzzed relay's verifier accepts.
const fuzzGoodToken = "good"

// checkTokens reads the tokens of a forwarded request as a Go backend
// would (net/url for the query and a form body, the first word of
// Authorization for the scheme) and fails on any but fuzzGoodToken.
func (sb *scriptedBackend) checkTokens(h *codec.RequestHead, body []byte) {
	if !sb.verified {
		return
	}
	var toks []string
	if f := strings.Fields(h.Authorization); len(f) > 0 && strings.EqualFold(f[0], "bearer") {
		toks = append(toks, strings.TrimSpace(h.Authorization[len(f[0]):]))
	}
	q, _ := url.ParseQuery(h.Query)
	toks = append(toks, q[rules.AccessTokenParam]...)
	if body != nil {
		b, _ := url.ParseQuery(string(body))
		toks = append(toks, b[rules.AccessTokenParam]...)
	}
	for _, tok := range toks {
		if tok != fuzzGoodToken {
			sb.t.Fatalf("a request with the unverified token %q reached the backend:\n%+v\nbody %q", tok, h, body)
		}
	}
}

type scriptedLeg struct {
	buf    []byte
	form   []byte // the body of a form request, when tokens are verified
	req    *codec.RequestHead
	body   codec.Body
	inBody bool
	action byte
	dead   bool // closed by the backend once its octets are read
	silent bool // stops answering
}

// Script actions.
const (
	actLength     = iota // 200 with Content-Length
	actChunked           // 200 chunked
	actNoContent         // 204
	actContinue          // 100 Continue at the head (with Expect), then 200
	actClose             // 200, Connection: close, then the leg closes
	actUntilClose        // 200 read until close, then the leg closes
	actSilent            // no answer: the reply timeout
	actGarbage           // a malformed head
	actSwitch            // 101 (a 502 unless a WebSocket was asked for)
	actEarly             // 413 at the head, before the body
	numActs
)

func (sb *scriptedBackend) receive(l *fakeLeg, b []byte) string {
	sl := sb.legs[l]
	if sl == nil {
		sl = &scriptedLeg{}
		sb.legs[l] = sl
	}
	var out strings.Builder
	sl.buf = append(sl.buf, b...)
	for len(sl.buf) > 0 && !sl.dead && !sl.silent {
		if !sl.inBody {
			h, n, err := codec.ParseRequestHead(sl.buf, fuzzBigLimits)
			if err != nil {
				sb.t.Fatalf("backend cannot read the forwarded head: %v\n%q", err, sl.buf)
			}
			if h == nil {
				break
			}
			sl.buf = sl.buf[n:]
			sl.req, sl.inBody = h, true
			sl.form = nil
			if sb.verified && isFormRequest(h) {
				sl.form = []byte{}
			}
			sb.checkTokens(h, nil)
			kind, length := h.Body()
			sl.body = codec.NewBody(kind, length, codec.Limits{})
			sl.action = actLength
			if len(sb.script) > 0 {
				sl.action = sb.script[sb.serial%len(sb.script)] % numActs
			}
			sb.serial++
			switch {
			case sl.action == actContinue && h.Expect100:
				out.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			case sl.action == actEarly:
				fmt.Fprintf(&out, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\nr%03d", sb.serial%1000)
				sl.dead = true
				return out.String()
			}
		}
		n, done, err := sl.body.Feed(sl.buf)
		if err != nil {
			sb.t.Fatalf("backend cannot frame the forwarded body: %v", err)
		}
		if sl.form != nil {
			sl.form = append(sl.form, sl.buf[:n]...)
		}
		sl.buf = sl.buf[n:]
		if !done {
			break
		}
		sl.inBody = false
		if sl.form != nil {
			if sl.req.Chunked {
				sb.t.Fatalf("a chunked form body reached the backend: %+v", sl.req)
			}
			sb.checkTokens(sl.req, sl.form)
		}
		s := sb.serial % 1000
		switch sl.action {
		case actLength, actContinue:
			fmt.Fprintf(&out, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nr%03d", s)
		case actChunked:
			fmt.Fprintf(&out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=1\r\nr%03d\r\n0\r\n\r\n", s)
		case actNoContent:
			out.WriteString("HTTP/1.1 204 No Content\r\n\r\n")
		case actClose:
			fmt.Fprintf(&out, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nr%03d", s)
			sl.dead = true
		case actUntilClose:
			fmt.Fprintf(&out, "HTTP/1.1 200 OK\r\n\r\nr%03d", s)
			sl.dead = true
		case actSilent:
			sl.silent = true
		case actGarbage:
			out.WriteString("HTTP/1.1 2x0 OK\r\n\r\n")
			sl.dead = true
		case actSwitch:
			out.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00")
			sl.dead = true
		}
	}
	return out.String()
}

type fuzzRun struct {
	out, sent string
	events    []string
	methods   []string
	closed    bool
}

// fuzzVerifies: bit 0x40 of the first cut turns edge verification on
// (cuts are read modulo 16, so the bit does not change the pieces).
func fuzzVerifies(cuts []byte) bool { return len(cuts) > 0 && cuts[0]&0x40 != 0 }

func fuzzRelayConfig(t testing.TB, flags uint8, verify bool) RelayConfig {
	cfg := testConfig(t)
	if verify {
		cfg.VerifyBearer = func(tok string) error {
			if tok != fuzzGoodToken {
				return errors.New("forged")
			}
			return nil
		}
	}
	if flags&1 != 0 {
		cfg.Limits = fuzzSmallLimits
	}
	if flags&2 != 0 {
		cfg.BodyExtractCap = 8
	}
	if flags&4 != 0 {
		cfg.MaxKeepaliveRequests = 2
	}
	cfg.TrustForwarded = flags&16 != 0
	cfg.TLS = flags&64 != 0
	return cfg
}

// runFuzzRelay plays the client's writes against scripted backends, then
// lets the backends finish: legs that close are reported down, and a
// silent one times out.
func runFuzzRelay(t *testing.T, cfg RelayConfig, writes []string, script []byte, flags uint8) fuzzRun {
	e := newRelayEngine(t, cfg, testRoutes)
	if flags&8 != 0 {
		e.dialFail = map[string]bool{"F": true, "B": true}
	}
	e.legInfo.StartTLS = flags&32 != 0
	e.manualDial = flags&128 != 0
	sb := &scriptedBackend{t: t, script: script, legs: map[*fakeLeg]*scriptedLeg{}, verified: cfg.VerifyBearer != nil}
	e.auto = sb.receive
	e.check = func(kind string, before clientPhase, ev protocols.RelayEvent, o *protocols.RelayOut) {
		if kind == "client" && before == cpHead && ev == protocols.RelayClose && len(o.Backend) > 0 {
			t.Fatalf("forwarded %q for a refused head", o.Backend)
		}
		if len(e.r.ex.hold) > max(holdCap, e.r.cfg.BodyExtractCap) || cap(e.r.ex.hold) > max(holdCap, e.r.cfg.BodyExtractCap) {
			t.Fatalf("hold grew to %d", cap(e.r.ex.hold))
		}
	}
	for _, w := range writes {
		e.pending = append(e.pending, w...)
		e.pump()
		if e.closed {
			break
		}
		if e.dialing && len(w)%3 == 0 {
			// Some dials finish before the next write, some after. The
			// client is fed after the dial (as the engine should), so that
			// what waits does not depend on when the client wrote.
			e.connect()
			e.pump()
		}
	}
settle:
	for steps := 0; !e.closed; steps++ {
		if steps > 1000 {
			t.Fatal("no end")
		}
		switch sl := sb.legs[e.cur]; {
		case e.dialing:
			e.connect()
			e.pump()
		case e.cur != nil && sl != nil && sl.dead:
			e.down()
		case e.r.AwaitingBackend():
			e.timeout()
		default:
			break settle // nothing more will happen
		}
	}
	return fuzzRun{string(e.Out), string(e.Sent), e.Events, e.methods, e.closed}
}

// checkClientStream reads what the client got as a sequence of responses,
// the i-th final one answering the i-th request (one more may follow:
// the refusal of a head). It returns the number of final responses.
func checkClientStream(t *testing.T, res fuzzRun) int {
	out := []byte(res.out)
	finals := 0
	seen := map[string]bool{}
	for i := 0; i+4 <= len(out); i++ {
		if out[i] == 'r' && isDigits(out[i+1:i+4]) && (i+4 == len(out) || out[i+4] == '\r' || out[i+4] == 'H') {
			if seen[string(out[i:i+4])] {
				t.Fatalf("response %s relayed twice: %q", out[i:i+4], res.out)
			}
			seen[string(out[i:i+4])] = true
		}
	}
	for len(out) > 0 {
		h, n, err := codec.ParseResponseHead(out, fuzzBigLimits)
		if err != nil || h == nil {
			t.Fatalf("client got a malformed response (%v): %q\nall: %q", err, out, res.out)
		}
		out = out[n:]
		if h.Status == 101 {
			return finals // the tunnel: the rest is not HTTP
		}
		if h.Interim() {
			continue
		}
		method := "GET"
		if finals < len(res.methods) {
			method = res.methods[finals]
		}
		finals++
		if finals > len(res.methods)+1 {
			t.Fatalf("%d responses for %d requests: %q", finals, len(res.methods), res.out)
		}
		if finals == len(res.methods)+1 && (h.Status < 400 || !res.closed) {
			t.Fatalf("a response to no request: %q", res.out)
		}
		kind, length := h.Body(method)
		b := codec.NewBody(kind, length, codec.Limits{})
		n, done, err := b.Feed(out)
		if err != nil {
			t.Fatalf("client got a malformed body: %v in %q", err, res.out)
		}
		out = out[n:]
		if !done && kind != codec.BodyUntilClose {
			if !res.closed || len(out) > 0 {
				t.Fatalf("a cut response, connection open: %q", res.out)
			}
		}
	}
	return finals
}

// splitWrites cuts data into writes of 1..16 octets as cuts says.
func splitWrites(data, cuts []byte) []string {
	var w []string
	start := 0
	for _, end := range prototest.Cuts(data, cuts) {
		w = append(w, string(data[start:end]))
		start = end
	}
	return w
}

// FuzzHTTPRelay feeds arbitrary client octets, in arbitrary writes, to a
// Relay in front of scripted backends. The machine must not panic,
// consume what it was not given, forward anything while reading a head
// (a refused head reaches no backend), send the backend anything its
// strict parser cannot read, answer a request more than once or
// out of order, hold more than its caps, or behave differently when the
// same octets come in other pieces.
func FuzzHTTPRelay(f *testing.F) {
	alice := "Authorization: " + rulestest.Basic("alice@a.example", "pw") + "\r\n"
	bob := "Authorization: Bearer " + rulestest.JWT(`{"email":"bob@b.example"}`) + "\r\n"
	seeds := []struct {
		data   string
		script []byte
		flags  uint8
	}{
		{"GET /jmap/a HTTP/1.1\r\nHost: m\r\n" + alice + "\r\nGET /jmap/b HTTP/1.1\r\nHost: m\r\n" + bob + "\r\n", []byte{0, 1}, 0},
		{"POST /pinned/x HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nT: 1\r\n\r\nHEAD /pinned/y HTTP/1.1\r\nHost: m\r\n\r\n", []byte{1, 2}, 0},
		{"PUT /dav/f HTTP/1.1\r\nHost: m\r\n" + alice + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhelloGET /nowhere HTTP/1.1\r\nHost: m\r\n\r\n", []byte{3}, 0},
		{"POST /login HTTP/1.1\r\nHost: m\r\nContent-Length: 24\r\n\r\n{\"user\":\"bob@b.example\"}GET /q/x?account=temp%40x.example HTTP/1.1\r\nHost: m\r\n\r\n", []byte{4, 0}, 2},
		{"GET /ws/x HTTP/1.1\r\nHost: m\r\n" + alice + "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00", []byte{8}, 0},
		{"GET /pinned/ HTTP/1.0\r\n\r\nGET /pinned/ HTTP/1.1\r\nHost: m\r\n\r\n", []byte{5}, 4},
		{"POST /pinned/ HTTP/1.1\r\nHost: m\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", nil, 0},
		{"POST /pinned/ HTTP/1.1\r\nHost: m\r\nContent-Length: 3\r\n\r\nabcGET /fb/ HTTP/1.1\r\nHost: m\r\n\r\nGET /dflt/ HTTP/1.1\r\nHost: m\r\n\r\n", []byte{9, 6}, 8},
		{"GET /pinned/ HTTP/1.1\r\nHost: m\r\n\r\nGET /pinned/ HTTP/1.1\r\nHost: m\r\n\r\n", []byte{7}, 32},
		{"POST /pinned/ HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0x1\r\n", []byte{0}, 1},
		{"GET /pinned/ HTTP/1.1\r\nHost: m\r\nX: " + strings.Repeat("y", 600) + "\r\n\r\n", []byte{0}, 1},
	}
	for _, s := range seeds {
		f.Add([]byte(s.data), []byte{3, 7, 1}, s.script, s.flags)
	}
	// Edge verification (cuts[0] & 0x40): tokens in Authorization, the
	// query and form bodies, good and forged, spelled every way.
	form := "Content-Type: application/x-www-form-urlencoded\r\n"
	for _, s := range []struct {
		data  string
		flags uint8
	}{
		{"GET /pinned/x?access_token=good HTTP/1.1\r\nHost: m\r\n\r\nGET /pinned/x?a=1;access%5Ftoken=forged HTTP/1.1\r\nHost: m\r\n\r\n", 0},
		{"GET /jmap/x HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer good\r\n\r\nGET /jmap/x HTTP/1.1\r\nHost: m\r\nAuthorization: bearer\tforged\r\n\r\n", 0},
		{"POST /pinned/x HTTP/1.1\r\nHost: m\r\n" + form + "Content-Length: 21\r\n\r\na=1&access_token=goodPOST /dflt/x HTTP/1.1\r\nHost: m\r\n" + form + "Content-Length: 19\r\n\r\nACCESS_TOKEN=forged", 0},
		{"POST /login HTTP/1.1\r\nHost: m\r\n" + form + "Expect: 100-continue\r\nContent-Length: 40\r\n\r\nuser=bob%40b.example&access_token=forged", 0},
		{"POST /pinned/x HTTP/1.1\r\nHost: m\r\n" + form + "Transfer-Encoding: chunked\r\n\r\n6\r\nx=good\r\n0\r\n\r\n", 0},
		{"GET /pinned/x?access_token=good HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer other\r\n\r\n", 0},
		{"GET /pinned/x?access_token=forged HTTP/1.1\r\nHost: m\r\n\r\nPOST /pinned/x HTTP/1.1\r\nHost: m\r\n" + form + "Content-Length: 19\r\n\r\naccess_token=forged", 0},
	} {
		f.Add([]byte(s.data), []byte{3 | 0x40, 7, 1}, []byte{0}, s.flags)
	}
	f.Fuzz(func(t *testing.T, data, cuts, script []byte, flags uint8) {
		if len(data) > 8192 {
			return
		}
		cfg := fuzzRelayConfig(t, flags, fuzzVerifies(cuts))
		whole := runFuzzRelay(t, cfg, []string{string(data)}, script, flags)
		finals := checkClientStream(t, whole)
		if len(whole.out) > 4096+64*len(data) {
			t.Fatalf("client got %d octets for %d", len(whole.out), len(data))
		}
		if finals > len(whole.methods)+1 {
			t.Fatal("too many responses")
		}
		for _, a := range script {
			if a%numActs == actEarly {
				return // an early answer races the body by design
			}
		}
		if flags&32 != 0 {
			// A STARTTLS leg is a misconfiguration the configuration
			// refuses for http; it fails whenever it comes up, which
			// races a bad request body. No panic is all that is asked.
			return
		}
		for _, writes := range [][]string{splitWrites(data, cuts), splitWrites(data, []byte{0})} {
			res := runFuzzRelay(t, cfg, writes, script, flags)
			checkClientStream(t, res)
			// What reached the backend may differ by a prefix: a body is
			// forwarded as it streams in, and a refusal found later in it
			// stops the stream (and closes that leg) at a point that
			// depends on the pieces. Different bytes would be a bug.
			got, want := withoutExpect100(res.sent), withoutExpect100(whole.sent)
			prefix := strings.HasPrefix(want, got) || strings.HasPrefix(got, want)
			gotOut, wantOut := res.out, whole.out
			if expect100.Match(data) {
				gotOut, wantOut = withoutContinue(gotOut), withoutContinue(wantOut)
			}
			if gotOut != wantOut || !prefix || fmt.Sprint(res.events) != fmt.Sprint(whole.events) {
				t.Fatalf("pieces change the result:\n%q\n%q\n%q\nwhole:\n%q\n%q\n%q", res.out, res.sent, res.events, whole.out, whole.sent, whole.events)
			}
		}
	})
}

// expect100 is an Expect: 100-continue field as the client may spell it.
var expect100 = regexp.MustCompile(`(?mi)^expect:[ \t]*100-continue[ \t]*\r\n`)

// withoutExpect100 drops the Expect: 100-continue fields from what reached
// a backend. The relay drops the field itself when the whole body is in by
// the time it forwards the head (ForwardOptions.DropExpect): whether it is
// depends on the pieces, by design.
func withoutExpect100(sent string) string {
	return expect100.ReplaceAllString(sent, "")
}

// withoutContinue drops the interim 100 responses from what a client that
// sent Expect: 100-continue got: a backend that saw the field may invite
// the body, one that did not (withoutExpect100) does not.
func withoutContinue(out string) string {
	return strings.ReplaceAll(out, "HTTP/1.1 100 Continue\r\n\r\n", "")
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
