package mocksmtp

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/internal/benchtest"
)

type client struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dial(t testing.TB, s *Server) *client {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *client) write(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

// reply reads one (possibly multi-line) reply and returns its lines.
func (c *client) reply() []string {
	c.t.Helper()
	var lines []string
	for i := 0; i < 100; i++ {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("after %q: %v", lines, err)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return lines
		}
	}
	c.t.Fatal("endless reply")
	return nil
}

// expect reads one reply and checks its last line starts with want.
func (c *client) expect(want string) []string {
	c.t.Helper()
	r := c.reply()
	if !strings.HasPrefix(r[len(r)-1], want) {
		c.t.Fatalf("reply %q, want %q...", r, want)
	}
	return r
}

func (c *client) cmd(line, want string) []string {
	c.t.Helper()
	c.write(line + "\r\n")
	return c.expect(want)
}

// envelope sends MAIL FROM:<s@y>, RCPT TO:<a@x> and DATA, each accepted.
func (c *client) envelope() {
	c.t.Helper()
	c.cmd("MAIL FROM:<s@y>", "250 ")
	c.cmd("RCPT TO:<a@x>", "250 ")
	c.cmd("DATA", "354 ")
}

func TestLMTPPerRecipientReplies(t *testing.T) {
	s := benchtest.Listen(t, Listen, Config{Name: "lmtp1", LMTP: true, NoAuth: true,
		Recipients: []string{"a@example.org", "B@example.org", "c@example.org"},
		LMTPDataReply: func(rcpt string) string {
			if rcpt == "c@example.org" {
				return "452 4.2.2 <c@example.org> Mailbox full"
			}
			return ""
		}})
	c := dial(t, s)
	c.expect("220 lmtp1 LMTP ready")
	c.cmd("EHLO x", "500 5.5.1 Error: this is an LMTP server, use LHLO")
	c.cmd("HELO x", "500 ")
	caps := strings.Join(c.cmd("LHLO client.example", "250 "), "\n")
	for _, want := range []string{"PIPELINING", "SIZE 67108864", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"} {
		if !strings.Contains(caps, want) {
			t.Errorf("LHLO lacks %s:\n%s", want, caps)
		}
	}
	if strings.Contains(caps, "AUTH") || strings.Contains(caps, "STARTTLS") || strings.Contains(caps, "XCLIENT") {
		t.Errorf("LHLO advertises too much:\n%s", caps)
	}
	c.cmd("MAIL FROM:<sender@example.net> BODY=8BITMIME", "250 2.1.0")
	c.cmd("RCPT TO:<a@example.org>", "250 2.1.5")
	c.cmd("RCPT TO:<nobody@example.org>", "550 5.1.1 <nobody@example.org>: User unknown")
	c.cmd("RCPT TO:<b@example.org>", "250 2.1.5")
	c.cmd("RCPT TO:<c@example.org>", "250 2.1.5")
	c.cmd("DATA", "354 ")
	c.write("Subject: hi\r\n\r\nbody\r\n.\r\n")
	got := []string{c.reply()[0], c.reply()[0], c.reply()[0]}
	want := []string{
		"250 2.0.0 <a@example.org> delivered on lmtp1",
		"250 2.0.0 <b@example.org> delivered on lmtp1",
		"452 4.2.2 <c@example.org> Mailbox full",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("DATA replies %q, want %q", got, want)
		}
	}
	c.cmd("QUIT", "221")
	msgs := s.Messages()
	if len(msgs) != 1 || s.Accepted() != 1 {
		t.Fatalf("messages %+v", msgs)
	}
	m := msgs[0]
	if m.From != "sender@example.net" || m.To != "a@example.org" || strings.Join(m.Rcpts, ",") != "a@example.org,b@example.org" ||
		m.Data != "Subject: hi\r\n\r\nbody\r\n" || m.Size != len(m.Data) || m.Helo != "client.example" || m.User != "" {
		t.Fatalf("message %+v", m)
	}
}

func TestSMTPModeRefusesLHLO(t *testing.T) {
	s := benchtest.Listen(t, Listen, Config{Name: "mx", NoAuth: true})
	c := dial(t, s)
	c.expect("220 mx ESMTP mocksmtp")
	c.cmd("LHLO x", "500 5.5.1 Error: this is an SMTP server, use EHLO")
}

func TestNoAuthMail(t *testing.T) {
	// Without NoAuth, MAIL needs AUTH (submission, as before).
	sub := benchtest.Listen(t, Listen, Config{Name: "sub", Users: map[string]string{"u": "p"}})
	c := dial(t, sub)
	c.expect("220 ")
	if caps := strings.Join(c.cmd("EHLO x", "250 "), "\n"); !strings.Contains(caps, "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO %s", caps)
	}
	c.cmd("MAIL FROM:<a@b>", "530 5.7.0 Authentication required")
	c.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00u\x00p")), "235 ")
	c.cmd("MAIL FROM:<a@b>", "250 ")
	c.cmd("RCPT TO:<r@b>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd("x\r\n.", "250 2.0.0 Ok: queued as M1 on sub")
	if m := sub.Messages(); len(m) != 1 || m[0].User != "u" || m[0].To != "r@b" {
		t.Fatalf("messages %+v", m)
	}

	mx := benchtest.Listen(t, Listen, Config{Name: "mx", NoAuth: true})
	c = dial(t, mx)
	c.expect("220 ")
	if caps := strings.Join(c.cmd("EHLO x", "250 "), "\n"); strings.Contains(caps, "AUTH") {
		t.Fatalf("EHLO advertises AUTH: %s", caps)
	}
	c.cmd("AUTH PLAIN AHUAcA==", "503 5.5.1 Error: authentication not enabled")
	c.cmd("MAIL FROM:<>", "250 2.1.0")
	c.cmd("MAIL FROM:<>", "503 5.5.1 Error: nested MAIL command")
	c.cmd("RCPT TO:<anyone@example.org>", "250 2.1.5")
	c.cmd("DATA", "354")
	c.cmd("x\r\n.", "250 2.0.0 Ok: queued as M1 on mx")

	// The standard library's client delivers to it too.
	if err := smtp.SendMail(mx.Addr(), nil, "s@example.net", []string{"r1@example.org", "r2@example.org"},
		[]byte("Subject: std\r\n\r\n.dot\r\n")); err != nil {
		t.Fatal(err)
	}
	m := mx.Messages()
	if len(m) != 2 || m[0].From != "" || m[1].From != "s@example.net" || strings.Join(m[1].Rcpts, " ") != "r1@example.org r2@example.org" ||
		m[1].Data != "Subject: std\r\n\r\n.dot\r\n" {
		t.Fatalf("messages %+v", m)
	}
}

func TestPipelining(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		name := map[bool]string{false: "smtp", true: "lmtp"}[lmtp]
		t.Run(name, func(t *testing.T) {
			s := benchtest.Listen(t, Listen, Config{Name: "p", LMTP: lmtp, NoAuth: true, Recipients: []string{"a@x", "b@x"}})
			c := dial(t, s)
			c.expect("220 ")
			hello := map[bool]string{false: "EHLO", true: "LHLO"}[lmtp]
			// Everything up to DATA in one write, then the body, the next
			// transaction and QUIT in one write.
			c.write(hello + " h\r\nMAIL FROM:<s@y>\r\nRCPT TO:<a@x>\r\nRCPT TO:<zz@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
			c.expect("250 ")
			c.expect("250 2.1.0")
			c.expect("250 2.1.5")
			c.expect("550 5.1.1 <zz@x>: User unknown")
			c.expect("250 2.1.5")
			c.expect("354 ")
			body1 := "l1\r\n..leading dot\r\n.\r\n"
			c.write(body1 + "MAIL FROM:<s2@y>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
			c.expect("250 2.0.0")
			if lmtp {
				c.expect("250 2.0.0 <b@x> delivered on p")
			}
			c.expect("250 2.1.0")
			c.expect("250 2.1.5")
			c.expect("354 ")
			c.write("second\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
			c.expect("250 2.0.0")
			c.expect("250 2.0.0 Ok")
			c.expect("250 2.0.0 Ok")
			c.expect("221 ")
			m := s.Messages()
			if len(m) != 2 || m[0].Data != "l1\r\n.leading dot\r\n" || strings.Join(m[0].Rcpts, ",") != "a@x,b@x" ||
				m[1].From != "s2@y" || m[1].Data != "second\r\n" || m[1].To != "b@x" {
				t.Fatalf("messages %+v", m)
			}
		})
	}
}

func TestDropAfterBodyBytes(t *testing.T) {
	s := benchtest.Listen(t, Listen, Config{Name: "d", LMTP: true, NoAuth: true, DropAfterBodyBytes: 1000})
	c := dial(t, s)
	c.expect("220 ")
	c.cmd("LHLO h", "250 ")
	// A body shorter than the limit is delivered.
	c.envelope()
	c.cmd("short\r\n.", "250 2.0.0 <a@x> delivered on d")
	// A longer one is cut off without a reply.
	c.envelope()
	line := strings.Repeat("x", 98) + "\r\n"
	for i := 0; i < 9; i++ {
		c.write(line)
	}
	c.write(line) // the 1000th byte: the server closes
	// Writes may or may not fail now; the read must end without a reply.
	for i := 0; i < 20; i++ {
		if _, err := io.WriteString(c.c, line); err != nil {
			break
		}
	}
	l, err := c.r.ReadString('\n')
	if err == nil {
		t.Fatalf("got a reply %q after the drop", l)
	}
	if m := s.Messages(); len(m) != 1 || m[0].Data != "short\r\n" || s.Accepted() != 1 {
		t.Fatalf("messages %+v", m)
	}
}

func TestStallFinalReplyAndSizeLimit(t *testing.T) {
	s := benchtest.Listen(t, Listen, Config{Name: "st", NoAuth: true, StallFinalReply: 300 * time.Millisecond, MaxMessageSize: 100})
	c := dial(t, s)
	c.expect("220 ")
	if caps := strings.Join(c.cmd("EHLO h", "250 "), "\n"); !strings.Contains(caps, "250-SIZE 100\n") {
		t.Fatalf("EHLO %s", caps)
	}
	c.cmd("MAIL FROM:<s@y> SIZE=101", "552 5.3.4 Error: message file too big")
	c.cmd("MAIL FROM:<s@y> SIZE=10", "250 ")
	c.cmd("RCPT TO:<a@x>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd(strings.Repeat("y", 200)+"\r\n.", "552 5.3.4 Error: message file too big")
	c.envelope()
	t0 := time.Now()
	c.cmd("ok\r\n.", "250 2.0.0 Ok: queued as M1 on st")
	// A timer never fires early: this lower bound cannot flake.
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Fatalf("final reply after %s", d)
	}

	// Close cuts a stall short: a server stalling for an hour closes the
	// stalled session at once, the message recorded, no reply sent.
	long := benchtest.Listen(t, Listen, Config{Name: "lg", NoAuth: true, StallFinalReply: time.Hour})
	c = dial(t, long)
	c.expect("220 ")
	c.cmd("EHLO h", "250 ")
	c.envelope()
	c.write("ok\r\n.\r\n")
	// Recorded before the stall: once counted, the session is stalling.
	for deadline := time.Now().Add(10 * time.Second); long.Accepted() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("accepted %d: the stalled message was not recorded", long.Accepted())
		}
	}
	closed := make(chan struct{})
	go func() { long.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("Close waited for the stall")
	}
	if l, err := c.r.ReadString('\n'); err == nil {
		t.Fatalf("got %q after Close, want the connection closed without a reply", l)
	}
}

func TestLongLinesAndDiscard(t *testing.T) {
	for _, cfg := range []Config{{NoAuth: true}, {NoAuth: true, DiscardBodies: true}, {NoAuth: true, CountOnly: true}} {
		s := benchtest.Listen(t, Listen, cfg)
		c := dial(t, s)
		c.expect("220 ")
		c.cmd("EHLO h", "250 ")
		c.envelope()
		// Lines longer than the read buffer, one starting with a dot.
		body := "." + strings.Repeat("a", 100000) + "\r\n" + strings.Repeat("b", 70000) + "\r\n"
		c.cmd(body+".", "250 ")
		c.cmd("QUIT", "221")
		want := body[1:]
		m := s.Messages()
		switch {
		case cfg.CountOnly:
			if len(m) != 0 || s.Accepted() != 1 {
				t.Fatalf("count only: %d recorded, %d accepted", len(m), s.Accepted())
			}
		case cfg.DiscardBodies:
			if len(m) != 1 || m[0].Data != "" || m[0].Size != len(want) {
				t.Fatalf("discard: %d messages, size %d", len(m), m[0].Size)
			}
		default:
			if len(m) != 1 || m[0].Data != want || m[0].Size != len(want) {
				t.Fatalf("%d messages, size %d", len(m), m[0].Size)
			}
		}
	}
}

func TestXClientInLMTP(t *testing.T) {
	s := benchtest.Listen(t, Listen, Config{Name: "x", LMTP: true, NoAuth: true, XClient: []string{"ADDR", "HELO", "PROTO"}})
	c := dial(t, s)
	c.expect("220 ")
	if caps := strings.Join(c.cmd("LHLO proxy", "250 "), "\n"); !strings.Contains(caps, "XCLIENT ADDR HELO PROTO") {
		t.Fatalf("LHLO %s", caps)
	}
	c.cmd("XCLIENT ADDR=192.0.2.1 HELO=client.example PROTO=ESMTP", "220 x LMTP ready")
	c.cmd("LHLO proxy", "250 ")
	c.envelope()
	c.cmd("x\r\n.", "250 ")
	m := s.Messages()
	if len(m) != 1 || m[0].XClient["ADDR"] != "192.0.2.1" || m[0].XClient["HELO"] != "client.example" || m[0].Helo != "proxy" {
		t.Fatalf("messages %+v", m)
	}
	if x := s.XClients(); len(x) != 1 {
		t.Fatalf("xclients %v", x)
	}
}

// BenchmarkData1MiB measures the server's DATA path: one 1 MiB message of
// 80-byte lines per iteration over one connection.
func BenchmarkData1MiB(b *testing.B) {
	s := benchtest.Listen(b, Listen, Config{NoAuth: true, CountOnly: true})
	c := dial(b, s)
	_ = c.c.SetDeadline(time.Time{}) // a long -benchtime outlasts dial's 10 s
	line := strings.Repeat("x", 78) + "\r\n"
	body := []byte(strings.Repeat(line, (1<<20)/len(line)) + ".\r\n")
	c.reply()
	c.write("EHLO b\r\n")
	c.reply()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.write("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
		c.reply()
		c.reply()
		c.reply()
		c.c.Write(body)
		c.reply()
	}
}
