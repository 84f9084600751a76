package smtprelay

import (
	"net/netip"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

// ptStep is one backend write and what the machine must have sent and
// reported after it.
type ptStep struct {
	in     string
	sent   string
	events []string
}

// runPassthrough plays the steps whole and one octet per read; it returns
// the octets left unconsumed after the verdict.
func runPassthrough(t *testing.T, cfg PassthroughBackendConfig, steps []ptStep) string {
	t.Helper()
	var rest string
	for _, bytewise := range []bool{false, true} {
		r := &prototest.BackendRun[*PassthroughBackend]{T: t, B: NewPassthroughBackend(cfg), RelayLabel: "relay="}
		for i, s := range steps {
			r.Sent = r.Sent[:0]
			if bytewise {
				j := 0
				for ; j < len(s.in) && !r.Done; j++ {
					r.Deliver([]byte{s.in[j]})
				}
				// The engine keeps what came after the verdict.
				r.Pending = append(r.Pending, s.in[j:]...)
			} else {
				r.Deliver([]byte(s.in))
			}
			if string(r.Sent) != s.sent {
				t.Fatalf("bytewise=%v step %d: sent %q, want %q", bytewise, i, r.Sent, s.sent)
			}
			prototest.CheckEvents(t, r.Events, s.events...)
		}
		if !bytewise {
			rest = string(r.Pending)
		} else if string(r.Pending) != rest {
			t.Fatalf("byte-wise leaves %q, whole %q", r.Pending, rest)
		}
	}
	return rest
}

var ptForward = &forward.Info{
	Client:    netip.MustParseAddrPort("[2001:db8::9]:1234"),
	Local:     netip.MustParseAddrPort("192.0.2.1:25"),
	SessionID: "sid",
	Helo:      "never.sent",
	Proto:     "ESMTP",
	TTL:       2,
}

func TestPassthroughNoForward(t *testing.T) {
	b := NewPassthroughBackend(PassthroughBackendConfig{})
	in := []byte("220 b ESMTP\r\n")
	n, out, ev := b.Feed(in, nil)
	if n != 0 || len(out) != 0 || ev != protocols.BackendAuthOK || len(b.Relay()) != 0 {
		t.Fatalf("consumed %d out %q ev %d relay %q", n, out, ev, b.Relay())
	}
	if n, _, ev := b.Feed(in, nil); n != 0 || ev != protocols.BackendAuthOK {
		t.Fatalf("again: consumed %d ev %d", n, ev)
	}
}

func TestPassthroughXClientFreshGreeting(t *testing.T) {
	// Only the advertised attributes, and never HELO, PROTO or LOGIN: the
	// client has said nothing yet. The fresh 220 goes to the client.
	rest := runPassthrough(t, PassthroughBackendConfig{Hostname: "px.example", Forward: ptForward}, []ptStep{
		{in: "220-b.example ESMTP\r\n220 hello\r\n", sent: "EHLO px.example\r\n"},
		{in: "250-b.example\r\n250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR TTL\r\n250 8BITMIME\r\n",
			sent: "XCLIENT ADDR=IPV6:2001:db8::9 PORT=1234 DESTADDR=192.0.2.1 TTL=2\r\n"},
		{in: "220 b.example ESMTP for the client\r\n250 extra\r\n", events: []string{`ok relay=""`}},
	})
	if rest != "220 b.example ESMTP for the client\r\n250 extra\r\n" {
		t.Fatalf("left %q", rest)
	}
}

func TestPassthroughXClientPlainOK(t *testing.T) {
	cfg := PassthroughBackendConfig{LMTP: true, Forward: ptForward, TTL: 7}
	runPassthrough(t, cfg, []ptStep{
		{in: "220 b LMTP\n", sent: "LHLO localhost\r\n"},
		{in: "250-b\r\n250 XCLIENT ADDR TTL\r\n", sent: "XCLIENT ADDR=IPV6:2001:db8::9 TTL=7\r\n"},
		{in: "250 2.0.0 Ok\r\n", events: []string{`ok relay="220 b LMTP\r\n"`}},
	})
}

func TestPassthroughNoXClient(t *testing.T) {
	runPassthrough(t, PassthroughBackendConfig{Forward: ptForward}, []ptStep{
		{in: "220 b ESMTP\r\n", sent: "EHLO localhost\r\n"},
		{in: "250-b\r\n250 PIPELINING\r\n", events: []string{`ok relay="220 b ESMTP\r\n"`}},
	})
	// Advertised, but none of the attributes the proxy may send.
	runPassthrough(t, PassthroughBackendConfig{Forward: ptForward}, []ptStep{
		{in: "220 b ESMTP\r\n", sent: "EHLO localhost\r\n"},
		{in: "250-b\r\n250 XCLIENT HELO PROTO LOGIN NAME\r\n", events: []string{`ok relay="220 b ESMTP\r\n"`}},
	})
}

func TestPassthroughFailures(t *testing.T) {
	for name, steps := range map[string][]ptStep{
		"greeting 554": {{in: "554 5.3.2 go away\r\n", events: []string{`failed: smtp pass-through backend: unexpected greeting "554 5.3.2 go away"`}}},
		"garbage":      {{in: "SSH-2.0-OpenSSH\r\n", events: []string{`failed: smtp pass-through backend: malformed reply "SSH-2.0-OpenSSH"`}}},
		"EHLO refused": {
			{in: "220 b\r\n", sent: "EHLO localhost\r\n"},
			{in: "502 5.5.2 no\r\n", events: []string{`failed: smtp pass-through backend: EHLO refused: "502 5.5.2 no"`}},
		},
		"XCLIENT refused": {
			{in: "220 b\r\n", sent: "EHLO localhost\r\n"},
			{in: "250-b\r\n250 XCLIENT ADDR\r\n", sent: "XCLIENT ADDR=IPV6:2001:db8::9\r\n"},
			{in: "550 5.7.0 Error: insufficient authorization\r\n", events: []string{`failed: smtp pass-through backend: XCLIENT refused: "550 5.7.0 Error: insufficient authorization"`}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			runPassthrough(t, PassthroughBackendConfig{Forward: ptForward}, steps)
		})
	}
}

func TestPassthroughFront(t *testing.T) {
	f := NewPassthroughFront(PassthroughConfig{Hostname: "mx.example.com"})
	if out := f.Greeting([]byte("x")); string(out) != "x" {
		t.Fatalf("greeting %q", out)
	}
	if n, out, ev := f.Feed([]byte("EHLO c\r\n"), nil); n != 0 || len(out) != 0 || ev != protocols.EventNone {
		t.Fatalf("feed %d %q %d", n, out, ev)
	}
	if l := f.Login(); l == nil || l.Creds.Mechanism != "" {
		t.Fatal("login")
	}
	for _, kind := range []protocols.FailKind{protocols.FailRejected, protocols.FailUnavailable, protocols.FailTempRouting} {
		out, closeConn := f.LoginFailed(kind, []byte("535 no"), nil)
		if string(out) != "421 4.3.0 mx.example.com Service not available, try again later\r\n" || !closeConn {
			t.Fatalf("login failed: %q %v", out, closeConn)
		}
	}
	for got, want := range map[string]string{
		string(f.TooBusy(nil)):      "421 4.3.2 mx.example.com Too many connections, try again later\r\n",
		string(f.Timeout(nil)):      "421 4.4.2 mx.example.com Error: timeout exceeded\r\n",
		string(f.ShuttingDown(nil)): "421 4.3.0 mx.example.com Server shutting down\r\n",
		string(f.TLSStarted(nil)):   "",
	} {
		if got != want {
			t.Fatalf("got %q want %q", got, want)
		}
	}
}
