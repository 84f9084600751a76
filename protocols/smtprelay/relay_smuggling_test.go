package smtprelay

import (
	"strings"
	"testing"
)

// SMTP smuggling (SEC Consult, CVE-2023-51764..51766): a message holds a
// lone dot between line ends other than CRLF, followed by commands. A
// server that takes that dot for the end of data runs them as a second
// transaction nobody upstream saw. The Relay ends a message only on CRLF
// "." CRLF, and answers a message with any bare CR or LF in it with 521
// and the end of the session: nothing after it is ever read as a command
// or reaches a backend.

// bareEOL is the index of the first CR not followed by LF or LF not
// preceded by CR in b, or -1.
func bareEOL(b []byte) int {
	for i, c := range b {
		switch {
		case c == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			return i
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return i
		}
	}
	return -1
}

// smuggleVariants are what follows the legitimate part of the message.
var smuggleVariants = []struct{ name, sep string }{
	{"LF dot LF", "\n.\n"},
	{"CRLF dot LF", "\r\n.\n"},
	{"LF dot CRLF", "\n.\r\n"},
	{"CR dot CRLF", "\r.\r\n"},
	{"CRLF dot CR", "\r\n.\r"},
	{"CR dot CR", "\r.\r"},
	{"CRLF dot CR CRLF", "\r\n.\r\r\n"},
	{"bare LF", "\nsome text\r\n"},
	{"bare CR", "\rsome text\r\n"},
	{"bare LF at a line start", "\r\n\nsome text\r\n"},
	{"bare CR at a line start", "\r\n\rsome text\r\n"},
}

// smuggledTx is the transaction an attacker wants run: to carol, on
// another destination than the message's.
const smuggledTx = "MAIL FROM:<forged@evil.example>\r\nRCPT TO:<carol@b.example>\r\nDATA\r\nFrom: forged\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n"

// smuggleStates are where the message stands when the variant arrives.
var smuggleStates = []struct {
	name    string
	prefix  string // the message before the variant
	maxSize int64
	down    bool // the leg goes away after the prefix
}{
	{name: "forwarding", prefix: "Subject: legit\r\n\r\nlegit body"},
	{name: "start of body"},
	{name: "oversized", prefix: "Subject: legit\r\n\r\nlegit body", maxSize: 16},
	{name: "leg lost", prefix: "Subject: legit\r\n\r\nlegit body", down: true},
}

// startSmuggling opens a transaction through a lax fake backend (two
// recipients for LMTP) up to its 354.
func startSmuggling(t *testing.T, lmtp bool, maxSize int64) (*relayEngine, *[]string) {
	t.Helper()
	cfg, ehlo, hello, rcpts := relayCfg, bEHLO, "EHLO client.example\r\n", "RCPT TO:<alice@a.example>\r\n"
	if lmtp {
		cfg, ehlo, hello, rcpts = lmtpCfg, bLHLO, "LHLO client.example\r\n", rcpts+"RCPT TO:<bob@a.example>\r\n"
	}
	cfg.MaxMessageSize = maxSize
	serial, finals := 0, new([]string)
	e := newRelayEngine(t, cfg, twoRoutes)
	e.check = checkEndOfData(t)
	e.newAuto = func() *fakeBackend {
		return &fakeBackend{lmtp: lmtp, ehlo: ehlo, serial: &serial, finals: finals, lax: true}
	}
	e.client(hello + "MAIL FROM:<s@c.example>\r\n" + rcpts + "DATA\r\n")
	if got := e.takeClient(); got[len(got)-1] != "354 fake go ahead" {
		t.Fatalf("no 354: %q", got)
	}
	e.TakeEvents()
	return e, finals
}

// expectSmugglingRefused: the client got 521 (one per recipient in LMTP)
// and the session is over; no second transaction was started; the
// backend got at most the whole lines of upTo (the message up to and
// including the variant) and accepted nothing.
func expectSmugglingRefused(t *testing.T, e *relayEngine, finals *[]string, upTo string) {
	t.Helper()
	owed := 1
	if e.r.cfg.LMTP {
		owed = 2
	}
	want := strings.Repeat("521 5.5.2 "+e.r.cfg.Hostname+" Error: bare <CR> or <LF> received\n", owed)
	if got := strings.Join(e.takeClient(), "\n") + "\n"; got != want {
		t.Fatalf("client got\n%swant\n%s", got, want)
	}
	if !e.closed {
		t.Fatal("the session goes on after the refusal")
	}
	for _, ev := range e.TakeEvents() {
		if strings.HasPrefix(ev, "route") || strings.HasPrefix(ev, "connect") {
			t.Fatalf("a second transaction was started: %q", ev)
		}
	}
	sent := e.TakeSent()
	i := strings.Index(sent, "DATA\r\n")
	if i < 0 {
		t.Fatalf("backend got %q", sent)
	}
	// What went out is CRLF lines and the start of one, all before the
	// octet refused: never that octet, nor what follows, nor a lone dot.
	body := sent[i+len("DATA\r\n"):]
	if !strings.HasPrefix(upTo, body) || bareEOL([]byte(body)) >= 0 || strings.HasSuffix("\r\n"+body, "\r\n.") {
		t.Fatalf("after DATA the backend got %q: more than the message before the refusal (%q)", body, upTo)
	}
	if len(*finals) > 0 {
		t.Fatalf("the backend accepted a message: %q", *finals)
	}
}

func TestRelaySmuggling(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		proto := "smtp"
		if lmtp {
			proto = "lmtp"
		}
		for _, st := range smuggleStates {
			for _, v := range smuggleVariants {
				t.Run(proto+"/"+st.name+"/"+v.name, func(t *testing.T) {
					rest := v.sep + smuggledTx
					// run delivers the prefix (then loses the leg if asked)
					// and the rest in the given writes.
					run := func(writes []string, bytewise bool) {
						e, finals := startSmuggling(t, lmtp, st.maxSize)
						e.clientBytewise = bytewise
						if st.down {
							e.client(st.prefix)
							e.down()
						} else {
							writes = append([]string{st.prefix}, writes...)
						}
						for _, w := range writes {
							e.client(w)
						}
						expectSmugglingRefused(t, e, finals, st.prefix+v.sep)
					}
					run([]string{rest}, false)
					run([]string{rest}, true)
					// Every cut in two, the prefix and the rest in one
					// write each: the variant straddles feeds.
					for i := 1; i < len(rest); i++ {
						run([]string{rest[:i], rest[i:]}, false)
					}
					if !st.down {
						msg := st.prefix + rest
						for i := 1; i < len(msg); i++ {
							e, finals := startSmuggling(t, lmtp, st.maxSize)
							e.client(msg[:i])
							e.client(msg[i:])
							expectSmugglingRefused(t, e, finals, st.prefix+v.sep)
						}
					}
				})
			}
		}
	}
}

// TestRelayEndOfDataOnlyCRLF: lines that start with a dot but are not a
// lone dot between CRLFs are content, forwarded verbatim; a refused or
// lost message is swallowed up to its real end, and only then answered.
func TestRelayEndOfDataOnlyCRLF(t *testing.T) {
	body := "..\r\n.x\r\n...\r\n. \r\n x.\r\n.\x00\r\n\r\n.."
	rest := body + "\r\n.\r\nNOOP\r\n"
	for _, st := range smuggleStates {
		t.Run(st.name, func(t *testing.T) {
			for i := 0; i <= len(rest); i++ {
				e, finals := startSmuggling(t, false, st.maxSize)
				writes := []string{st.prefix + rest[:i], rest[i:]}
				if st.down {
					e.client(st.prefix)
					e.down()
					writes[0] = rest[:i]
				}
				for _, w := range writes {
					e.client(w)
				}
				want := "250 2.0.0 fake queued Q1"
				switch {
				case st.maxSize > 0:
					want = "552 5.3.4 Message size exceeds fixed limit"
				case st.down:
					want = "451 4.4.2 Error: backend connection lost, message not accepted"
				}
				if got := strings.Join(e.takeClient(), "\n"); got != want+"\n250 2.0.0 Ok" {
					t.Fatalf("cut at %d: client got %q, want %q and the NOOP's 250", i, got, want)
				}
				sent := e.TakeSent()
				if st.maxSize == 0 && !st.down && !strings.HasSuffix(sent, "DATA\r\n"+st.prefix+body+"\r\n.\r\n") {
					t.Fatalf("cut at %d: backend got %q, want the message verbatim", i, sent)
				}
				if (st.maxSize > 0 || st.down) && len(*finals) > 0 {
					t.Fatalf("cut at %d: the backend accepted %q", i, *finals)
				}
				if e.closed {
					t.Fatalf("cut at %d: the session was closed", i)
				}
			}
		})
	}
}
