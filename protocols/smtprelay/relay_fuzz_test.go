package smtprelay

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
)

var fuzzRoutes = map[string]string{"a@a": "A", "b@a": "A", "bad@a": "A", "tmp@a": "A", "c@b": "B", "t@t": "?"}

var fuzzForward = &forward.Info{
	Client:    netip.MustParseAddrPort("[2001:db8::5]:4567"),
	Local:     netip.MustParseAddrPort("192.0.2.1:25"),
	SessionID: "s1",
}

// fuzzRelayConfig picks a configuration and a backend leg from flags.
func fuzzRelayConfig(flags uint8) (RelayConfig, protocols.BackendLeg) {
	cfg := RelayConfig{Hostname: "mx.example.com", LMTP: flags&1 != 0, StartTLS: flags&2 != 0}
	if flags&4 != 0 {
		cfg.MaxMessageSize = 40
	}
	if flags&8 != 0 {
		cfg.MaxLine, cfg.MaxRecipients = 16, 2 // MaxLine: at least 510
	}
	var leg protocols.BackendLeg
	leg.StartTLS = flags&16 != 0
	if flags&32 != 0 {
		leg.Forward = fuzzForward
	}
	return cfg, leg
}

const fuzzBackendEHLO = "250-fake.backend\r\n250-PIPELINING\r\n250-SIZE 100\r\n250-8BITMIME\r\n250-STARTTLS\r\n250-XCLIENT ADDR PORT HELO PROTO LOGIN\r\n250 SMTPUTF8\r\n"

type relayRunResult struct {
	out, sent string
	events    []string
	finals    []string
}

// runRelayClient plays a client write by write against fake backends.
func runRelayClient(t *testing.T, cfg RelayConfig, leg protocols.BackendLeg, writes []string, bytewise bool, flags uint8, dieAfter int) relayRunResult {
	serial, finals := 0, []string(nil)
	e := newRelayEngine(t, cfg, fuzzRoutes)
	e.leg = leg
	e.clientBytewise = bytewise
	e.check = checkEndOfData(t)
	e.markAborted = true
	e.newAuto = func() *fakeBackend {
		ehlo := fuzzBackendEHLO
		if flags&64 != 0 {
			ehlo = "250-fake.backend\r\n250 STARTTLS\r\n" // no SMTPUTF8, SIZE, 8BITMIME, XCLIENT
		}
		fb := &fakeBackend{lmtp: cfg.LMTP, ehlo: ehlo, serial: &serial, finals: &finals, refuse: "bad", tempRcp: "tmp", lax: true}
		if flags&128 != 0 {
			fb.dieAfter = dieAfter
		}
		return fb
	}
	for _, w := range writes {
		e.client(w)
		if len(e.bpending) > smtpwire.MaxRelay+smtpwire.MaxReplyLine+2 {
			t.Fatalf("engine holds %d backend octets", len(e.bpending))
		}
	}
	checkRelayBounds(t, e.r)
	return relayRunResult{string(e.Out), string(e.Sent), e.Events, finals}
}

// checkRelayBounds: what the machine keeps is bounded whatever it is fed.
func checkRelayBounds(t *testing.T, r *Relay) {
	if len(r.tx.refusal) > 2*smtpwire.MaxRelay || len(r.rcpt) > r.cfg.MaxLine || len(r.tx.sender) > r.cfg.MaxLine || len(r.helo) > r.cfg.MaxLine {
		t.Fatalf("machine state grew: refusal %d rcpt %d sender %d helo %d", len(r.tx.refusal), len(r.rcpt), len(r.tx.sender), len(r.helo))
	}
}

// checkFinals: every end-of-data success the client saw is one the fake
// backends sent, at most once; and every end-of-data reply the backends
// sent reached the client. The backends are lax about line ends: had one
// found an end of data the machine did not see (SMTP smuggling), its
// reply would have been taken for unsolicited and lost.
func checkFinals(t *testing.T, res relayRunResult) {
	seen := map[string]bool{}
	sent := map[string]bool{}
	for _, f := range res.finals {
		sent[strings.TrimSuffix(f, "\r\n")] = true
	}
	for _, l := range prototest.Lines([]byte(res.out)) {
		if strings.Contains(l, "fake queued") || strings.Contains(l, "fake delivered") {
			if !sent[l] || seen[l] {
				t.Fatalf("end-of-data success %q not sent by a backend (or twice)", l)
			}
			seen[l] = true
		}
	}
	if len(seen) != len(res.finals) {
		t.Fatalf("the backends sent %d end-of-data replies, the client got %d: %q", len(res.finals), len(seen), res.finals)
	}
}

// FuzzRelayClient feeds arbitrary client bytes, in arbitrary writes, to a
// Relay in front of scripted backends (fakeBackend, lax about line ends),
// which may die at a chosen command (BackendDown follows). The machine
// must not panic, consume what it was not given, write anything but whole
// reply lines to the client, answer an end of data with a success the
// backend did not send, send a backend a bare CR or LF (relayEngine.apply)
// or an end of data it did not find itself (checkFinals), hold more than a
// line of client octets, or behave differently when the same bytes come
// in other pieces.
func FuzzRelayClient(f *testing.F) {
	f.Add([]byte("EHLO c\r\nMAIL FROM:<s@c>\r\nRCPT TO:<a@a>\r\nRCPT TO:<b@a>\r\nRCPT TO:<c@b>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n"), []byte{3}, uint8(0))
	f.Add([]byte("LHLO c\r\nMAIL FROM:<s@c>\r\nRCPT TO:<a@a>\r\nRCPT TO:<bad@a>\r\nRCPT TO:<tmp@a>\r\nRCPT TO:<b@a>\r\nDATA\r\nx\r\n..\r\n.\r\nRSET\r\n"), []byte{1, 7}, uint8(1|32))
	f.Add([]byte("EHLO c\r\nMAIL FROM:<s@c> SIZE=10 BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<a@a>\r\nDATA\r\n"+strings.Repeat("0123456789", 6)+"\r\n.\r\nNOOP\r\n"), []byte{5}, uint8(4|16))
	f.Add([]byte("EHLO c\r\nMAIL FROM:<s@c>\r\nRCPT TO:<a@a>\r\nDATA\r\nx\n.\nMAIL FROM:<x@y>\r\nRCPT TO:<c@b>\r\nDATA\r\ny\r\n.\r\n"), []byte{2}, uint8(64))
	f.Add([]byte("EHLO c\r\nSTARTTLS\r\nEHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<t@t>\r\nRCPT TO:<c@b>\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<c@b>\r\nDATA\r\n.\r\n"), []byte{9}, uint8(2))
	f.Add([]byte(strings.Repeat("z", 700)+"\r\nHELO x\nMAIL FROM:<a@b>\nRCPT TO:<a@a>\nRCPT TO:<b@a>\nRCPT TO:<bad@a>\nDATA\n.\r\n"), []byte{}, uint8(8))
	f.Add([]byte("EHLO c\r\nMAIL FROM:<s@c>\r\nRCPT TO:<a@a>\r\nRCPT TO:<b@a>\r\nDATA\r\nhi\r\n.\r\nMAIL FROM:<s@c>\r\nRCPT TO:<a@a>\r\nQUIT\r\n"), []byte{5, 1}, uint8(128))
	// SMTP smuggling: each variant in the middle of a message, at its
	// start, in an oversized one (flags 4: 40 octets), SMTP and LMTP.
	for i, v := range smuggleVariants {
		smuggled := "MAIL FROM:<x@y>\r\nRCPT TO:<c@b>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n"
		f.Add([]byte("EHLO c\r\nMAIL FROM:<s@c>\r\nRCPT TO:<a@a>\r\nDATA\r\nx"+v.sep+smuggled), []byte{byte(i)}, uint8(0))
		f.Add([]byte("LHLO c\r\nMAIL FROM:<s@c>\r\nRCPT TO:<a@a>\r\nRCPT TO:<b@a>\r\nDATA\r\n"+v.sep+smuggled), []byte{3, byte(i)}, uint8(1))
		f.Add([]byte("EHLO c\r\nMAIL FROM:<s@c>\r\nRCPT TO:<a@a>\r\nDATA\r\n"+strings.Repeat("0123456789", 5)+v.sep+smuggled), []byte{7, byte(i)}, uint8(4))
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		cfg, leg := fuzzRelayConfig(flags)
		dieAfter := 1
		if len(cuts) > 0 {
			dieAfter = int(cuts[0]%12) + 1
		}
		whole := runRelayClient(t, cfg, leg, []string{string(data)}, false, flags, dieAfter)
		checkFinals(t, whole)
		if max := 64*len(data) + 4096; len(whole.out) > max {
			t.Fatalf("output %d octets for %d of input", len(whole.out), len(data))
		}
		if len(data) > 2048 {
			return // keep byte-at-a-time runs cheap
		}
		for _, bytewise := range []bool{false, true} {
			res := runRelayClient(t, cfg, leg, prototest.Chunk(data, cuts), bytewise, flags, dieAfter)
			checkFinals(t, res)
			if res.out != whole.out || res.sent != whole.sent || fmt.Sprint(res.events) != fmt.Sprint(whole.events) {
				if strings.Contains(fmt.Sprint(whole.events), "starttls") {
					continue // what follows STARTTLS depends on the pieces by design
				}
				t.Fatalf("pieces change the result:\n%q\n%q %q\nwhole:\n%q\n%q %q", res.out, res.sent, res.events, whole.out, whole.sent, whole.events)
			}
		}
	})
}

// FuzzRelayBackend runs a fixed pipelined client dialogue against
// arbitrary backend bytes, cut into arbitrary reads; a backend that falls
// silent while a reply is owed times out (BackendDown). The machine must
// not panic, must write only whole reply lines to the client, must answer
// an end of data with a success only when relaying the backend's own
// bytes, and must finish the dialogue.
func FuzzRelayBackend(f *testing.F) {
	f.Add([]byte("220 b ESMTP\r\n"+fuzzBackendEHLO+"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"), []byte{64}, uint8(0))
	f.Add([]byte("220 b\r\n"+fuzzBackendEHLO+"220 go\r\n"+fuzzBackendEHLO+"220 again\r\n250 h\r\n250 ok\r\n250 ok\r\n"), []byte{20, 30}, uint8(16|32))
	f.Add([]byte("220 b LMTP\r\n250-b\r\n250 8BITMIME\r\n250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n250-a\r\n250 b\r\n452 c\r\n"), []byte{11, 13, 7}, uint8(1))
	f.Add([]byte("220 b\r\n250 b\r\n550-5.7.1 no\r\n550 5.7.1 sender\r\n421 bye\r\n"), []byte{5}, uint8(4))
	f.Add([]byte("220 b\r\n"+fuzzBackendEHLO+"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"), []byte{0}, uint8(0))
	f.Add([]byte("554 go away\r\n220 b\r\n250 b\r\n250 ok\r\n250 ok\r\n354 go\r\n\x00\x01garbage\r\n"), []byte{1}, uint8(0))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		cfg, leg := fuzzRelayConfig(flags)
		e := newRelayEngine(t, cfg, fuzzRoutes)
		e.leg = leg
		e.check = checkEndOfData(t)
		hello := "EHLO c\r\n"
		if cfg.LMTP {
			hello = "LHLO c\r\n"
		}
		e.client(hello + "MAIL FROM:<s@c> SIZE=10 SMTPUTF8\r\nRCPT TO:<a@a>\r\nRCPT TO:<b@a>\r\nRCPT TO:<c@b>\r\nDATA\r\nbody\r\n" +
			strings.Repeat("x", 50) + "\r\n.\r\nMAIL FROM:<s@c>\r\nRCPT TO:<bad@a>\r\nRCPT TO:<c@b>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n")
		reads := prototest.Chunk(data, cuts)
		limit := 2*len(reads) + 100
		for steps := 0; !e.closed; steps++ {
			if steps > limit {
				t.Fatalf("no end: phase %d leg %d", e.r.phase, e.r.leg.phase)
			}
			switch {
			case len(reads) > 0 && e.legUp:
				e.backend(reads[0])
				reads = reads[1:]
			case e.r.AwaitingBackend():
				e.down() // the engine's reply timeout
			case e.legUp && len(reads) == 0 && e.r.phase != cpCommand:
				e.down()
			default:
				if len(reads) > 0 && !e.legUp {
					reads = reads[1:] // nobody to read them
					continue
				}
				// The script ends with QUIT: the session must be over.
				t.Fatalf("dialogue stuck in phase %d with %q pending", e.r.phase, e.pending)
			}
			checkRelayBounds(t, e.r)
		}
	})
}

// FuzzPassthroughBackend feeds arbitrary backend bytes to a
// PassthroughBackend. It must not panic, must behave the same however the
// bytes are cut, send only EHLO/LHLO and XCLIENT (never HELO, PROTO or
// LOGIN attributes), and hand over either the saved 220 greeting or an
// unconsumed 220 reply.
func FuzzPassthroughBackend(f *testing.F) {
	f.Add([]byte("220 b ESMTP\r\n250-b\r\n250 XCLIENT ADDR PORT HELO PROTO LOGIN DESTADDR DESTPORT TTL\r\n220 b again\r\nEHLO"), []byte{4}, uint8(1))
	f.Add([]byte("220-b\r\n220 b\r\n250-b\r\n250 XCLIENT ADDR\r\n250 ok\r\n"), []byte{1}, uint8(3))
	f.Add([]byte("220 b\r\n250 b\r\n"), []byte{}, uint8(1))
	f.Add([]byte("554 no\r\n"), []byte{}, uint8(1))
	f.Add([]byte("220 b\r\n250-b\r\n250 XCLIENT ADDR\r\n550 5.7.0 no\r\n"), []byte{2}, uint8(5))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		cfg := PassthroughBackendConfig{LMTP: flags&2 != 0, Hostname: "px", TTL: int(flags >> 4)}
		if flags&1 != 0 {
			cfg.Forward = fuzzForward
		}
		prototest.BackendFuzz[*PassthroughBackend]{
			New: func() *PassthroughBackend { return NewPassthroughBackend(cfg) },
			Done: func(r *prototest.BackendRun[*PassthroughBackend]) {
				for l := range strings.Lines(string(r.Sent)) {
					if !strings.HasPrefix(l, "EHLO px\r\n") && !strings.HasPrefix(l, "LHLO px\r\n") && !strings.HasPrefix(l, "XCLIENT ") ||
						strings.Contains(l, "HELO=") || strings.Contains(l, "PROTO=") || strings.Contains(l, "LOGIN=") {
						t.Fatalf("sent %q", r.Sent)
					}
				}
				if r.LoggedIn() {
					relay := r.B.Relay()
					if len(relay) > 0 && !strings.HasPrefix(string(relay), "220") {
						t.Fatalf("relay %q", relay)
					}
					if cfg.Forward != nil && len(relay) == 0 && !strings.HasPrefix(string(r.Pending), "220") {
						t.Fatalf("nothing for the client: pending %q", r.Pending)
					}
				}
			},
			MaxSent: 2048,
			// The saved greeting: one reply, each line's LF made CRLF.
			MaxRelay: smtpwire.MaxRelay + maxRelayReplyLines,
		}.Check(t, data, cuts)
	})
}
