//go:build linux

package e2e

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
)

// SenderSource is the address the SMTP/LMTP test clients connect from,
// so that the client address a backend records (127.0.0.7) differs from
// the proxy's (127.0.0.1).
const SenderSource = "127.0.0.7"

// SMTPSend describes one SMTP or LMTP client session: greeting,
// EHLO/LHLO, optionally STARTTLS, then one transaction to To. With Retry,
// recipients refused with a 4xx reply are sent again in a new transaction
// (at most three transactions in all), as RFC 5321 asks of a client that
// gets "452 Too many recipients".
type SMTPSend struct {
	Addr     string
	LMTP     bool   // LHLO, and one reply per accepted recipient after DATA
	StartTLS bool   // STARTTLS before the envelope (certificate not verified)
	Source   string // local address to connect from
	Helo     string // default "laptop.test"
	From     string // default "sender@example.net"
	To       []string
	Subject  string
	// Body is the message body (default one line); it is sent after a
	// From, To, Subject, Date and Message-ID header.
	Body    string
	Retry   bool
	Timeout time.Duration // the whole run (default 30s)
}

func (o SMTPSend) helo() string { return cmp.Or(o.Helo, "laptop.test") }
func (o SMTPSend) from() string { return cmp.Or(o.From, "sender@example.net") }
func (o SMTPSend) body() string {
	return cmp.Or(o.Body, "This message was sent by switchyard's end-to-end tests.\r\n")
}
func (o SMTPSend) timeout() time.Duration { return timeoutOr(o.Timeout, 30*time.Second) }

// SMTPRcpt is one RCPT TO and the reply the client got.
type SMTPRcpt struct {
	To    string
	Reply string
}

// SMTPTransaction is what a client saw in one mail transaction. A reply
// is "code text", the lines of a multi-line reply joined with "\n".
type SMTPTransaction struct {
	Mail  string     // reply to MAIL FROM
	Rcpts []SMTPRcpt // in the order sent
	Data  string     // reply to DATA ("354 ..."); empty when no recipient was accepted
	// Final holds the replies after the message: one for SMTP, one per
	// accepted recipient (in RCPT order) for LMTP.
	Final []string
}

// RcptReply returns the reply to RCPT TO:<to> in this transaction.
func (tx SMTPTransaction) RcptReply(to string) (string, bool) {
	for _, r := range tx.Rcpts {
		if strings.EqualFold(r.To, to) {
			return r.Reply, true
		}
	}
	return "", false
}

// SMTPResult is what one client run saw.
type SMTPResult struct {
	Transactions []SMTPTransaction
	Output       string // the client's own output, for failure messages
}

// SMTPDriver runs one real SMTP/LMTP client. It returns an error when the
// client could not run the session to its end (connection refused or
// lost, unexpected greeting, ...); refused recipients or messages are not
// errors but replies in the result.
type SMTPDriver struct {
	Name string
	Run  func(t testing.TB, o SMTPSend) (SMTPResult, error)
}

// SMTPDrivers lists the real SMTP/LMTP clients the suite drives.
var SMTPDrivers = []SMTPDriver{
	{Name: "python-smtplib", Run: PythonSMTP},
	{Name: "swaks", Run: Swaks},
}

// smtpClientPy drives Python's smtplib (smtplib.LMTP for LMTP) and prints
// one JSON object: {"ok": true, "transactions": [...]} or {"ok": false,
// "stage": ..., "error": ..., "transactions": [...]}.
const smtpClientPy = `
import json, smtplib, ssl, sys
host, port, lmtp, starttls, source, helo, sender, rcpts, retry, timeout = sys.argv[1:11]
msg = sys.stdin.buffer.read()
rcpts = rcpts.split(",")
txs = []
stage = "connect"

def rep(code, text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "%d %s" % (code, text)

try:
    cls = smtplib.LMTP if lmtp == "1" else smtplib.SMTP
    s = cls(host, int(port), local_hostname=helo, source_address=(source, 0) if source else None, timeout=float(timeout))
    stage = "ehlo"
    code, text = s.ehlo()
    if code != 250:
        raise Exception("EHLO/LHLO refused: " + rep(code, text))
    if starttls == "1":
        stage = "starttls"
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        s.ehlo()
    pending = rcpts
    for _ in range(3):
        tx = {"mail": "", "rcpts": [], "data": "", "final": []}
        txs.append(tx)
        stage = "mail"
        code, text = s.mail(sender)
        tx["mail"] = rep(code, text)
        if code != 250:
            break
        stage = "rcpt"
        accepted, again = [], []
        for r in pending:
            code, text = s.rcpt(r)
            tx["rcpts"].append({"to": r, "reply": rep(code, text)})
            if code in (250, 251):
                accepted.append(r)
            elif 400 <= code < 500:
                again.append(r)
        if not accepted:
            s.rset()
        else:
            stage = "data"
            try:
                code, text = s.data(msg)
                tx["data"] = "354 (smtplib does not show it)"
                tx["final"].append(rep(code, text))
                if lmtp == "1":
                    for _ in accepted[1:]:
                        code, text = s.getreply()
                        tx["final"].append(rep(code, text))
            except smtplib.SMTPDataError as e:
                tx["data"] = rep(e.smtp_code, e.smtp_error)
                s.rset()
        pending = again
        if not pending or retry != "1":
            break
    stage = "quit"
    s.quit()
    print(json.dumps({"ok": True, "transactions": txs}))
except Exception as e:
    print(json.dumps({"ok": False, "stage": stage, "error": "%s: %s" % (type(e).__name__, e), "transactions": txs}))
    sys.exit(1)
`

// smtpMessage renders o's message with the headers every driver sends.
func smtpMessage(o SMTPSend) string {
	return fmt.Sprintf("From: <%s>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d.e2e@switchyard.test>\r\n\r\n%s",
		o.from(), strings.Join(o.To, ", "), o.Subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), o.body())
}

// PythonSMTP sends with Python's smtplib (smtplib.LMTP for LMTP), from
// o.Source when set. With o.Retry it retries 4xx-refused recipients in a
// new transaction in the same session.
func PythonSMTP(t testing.TB, o SMTPSend) (SMTPResult, error) {
	t.Helper()
	py, host, port := pythonFor(t, o.Addr)
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	args := []string{"-c", smtpClientPy, host, port, b(o.LMTP), b(o.StartTLS), o.Source, o.helo(), o.from(),
		strings.Join(o.To, ","), b(o.Retry), fmt.Sprint((o.timeout() / 2).Seconds())}
	stdout, stderr, err := harness.RunBounded(o.timeout(), []byte(smtpMessage(o)), py, args...)
	res := SMTPResult{Output: stdout + stderr}
	var out struct {
		OK           bool   `json:"ok"`
		Stage        string `json:"stage"`
		Error        string `json:"error"`
		Transactions []struct {
			Mail  string `json:"mail"`
			Rcpts []struct {
				To    string `json:"to"`
				Reply string `json:"reply"`
			} `json:"rcpts"`
			Data  string   `json:"data"`
			Final []string `json:"final"`
		} `json:"transactions"`
	}
	if jerr := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &out); jerr != nil {
		return res, fmt.Errorf("python smtplib: no result (%v, run error %v): %s", jerr, err, res.Output)
	}
	for _, tx := range out.Transactions {
		st := SMTPTransaction{Mail: tx.Mail, Data: tx.Data, Final: tx.Final}
		for _, r := range tx.Rcpts {
			st.Rcpts = append(st.Rcpts, SMTPRcpt{To: r.To, Reply: r.Reply})
		}
		res.Transactions = append(res.Transactions, st)
	}
	if !out.OK {
		return res, fmt.Errorf("python smtplib failed at %s: %s", out.Stage, out.Error)
	}
	return res, nil
}

// Swaks sends with swaks (--protocol LMTP for LMTP, -tls for STARTTLS),
// one transaction per run; with o.Retry it runs swaks again, on a new
// connection, for the recipients refused with a 4xx reply. The result is
// parsed from swaks' transcript.
func Swaks(t testing.TB, o SMTPSend) (SMTPResult, error) {
	t.Helper()
	bin := harness.RequireBinary(t, "swaks")
	var res SMTPResult
	pending := o.To
	for round := 0; round < 3 && len(pending) > 0; round++ {
		proto := "ESMTP"
		if o.LMTP {
			proto = "LMTP"
		}
		args := []string{"--server", o.Addr, "--protocol", proto, "--helo", o.helo(), "--from", o.from(),
			"--to", strings.Join(pending, ","), "--timeout", fmt.Sprint(int((o.timeout() / 2).Seconds())),
			"--data", "-"}
		if o.Source != "" {
			args = append(args, "--local-interface", o.Source)
		}
		if o.StartTLS {
			args = append(args, "-tls")
		}
		msg := smtpMessage(SMTPSend{From: o.from(), To: o.To, Subject: o.Subject, Body: o.body()})
		stdout, stderr, err := harness.RunBounded(o.timeout(), []byte(msg), bin, args...)
		res.Output += stdout + stderr
		txs, perr := parseSwaks(stdout)
		res.Transactions = append(res.Transactions, txs...)
		if perr != nil {
			return res, fmt.Errorf("swaks (%v): %v\n%s", err, perr, stdout+stderr)
		}
		if err != nil {
			// 24: no recipient accepted, 25/26: DATA or the message
			// refused. These are answers, not failures to talk.
			code := -1
			if ee, ok := err.(interface{ ExitCode() int }); ok {
				code = ee.ExitCode()
			}
			if code != 24 && code != 25 && code != 26 {
				return res, fmt.Errorf("swaks: %v\n%s", err, stdout+stderr)
			}
		}
		if !o.Retry {
			break
		}
		pending = nil
		for _, r := range txs[len(txs)-1].Rcpts {
			if strings.HasPrefix(r.Reply, "4") {
				pending = append(pending, r.To)
			}
		}
	}
	return res, nil
}

var (
	swaksServerRe = regexp.MustCompile(`^<(?:-|\*\*|~|~\*) +(\d{3})([ -])(.*)$`)
	swaksClientRe = regexp.MustCompile(`^ (?:-|~|\*)> (.*)$`)
	rcptToRe      = regexp.MustCompile(`(?i)^RCPT TO:\s*<([^>]*)>`)
)

// parseSwaks reads swaks' transcript ("<-  250 ..." server lines, " ->
// CMD" client lines, "~" inside TLS, "**" for an error reply) into
// transactions.
func parseSwaks(out string) ([]SMTPTransaction, error) {
	var (
		txs     []SMTPTransaction
		cur     *SMTPTransaction
		last    string // the command the next reply answers
		inData  bool   // between DATA's 354 and the final dot
		partial []string
	)
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := swaksServerRe.FindStringSubmatch(line); m != nil {
			partial = append(partial, strings.TrimSpace(m[3]))
			if m[2] == "-" {
				continue
			}
			reply := m[1] + " " + strings.Join(partial, "\n")
			partial = nil
			switch {
			case cur == nil:
			case last == "MAIL":
				cur.Mail = reply
			case strings.HasPrefix(last, "RCPT "):
				cur.Rcpts = append(cur.Rcpts, SMTPRcpt{To: strings.TrimPrefix(last, "RCPT "), Reply: reply})
			case last == "DATA":
				cur.Data = reply
				inData = strings.HasPrefix(reply, "354")
			case last == ".":
				cur.Final = append(cur.Final, reply)
			}
			continue
		}
		m := swaksClientRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		cmd := m[1]
		if inData {
			if cmd == "." {
				inData = false
				last = "."
			}
			continue
		}
		upper := strings.ToUpper(cmd)
		switch {
		case strings.HasPrefix(upper, "MAIL FROM:"):
			txs = append(txs, SMTPTransaction{})
			cur = &txs[len(txs)-1]
			last = "MAIL"
		case strings.HasPrefix(upper, "RCPT TO:"):
			rm := rcptToRe.FindStringSubmatch(cmd)
			if rm == nil {
				return txs, fmt.Errorf("cannot read the recipient of %q", cmd)
			}
			last = "RCPT " + rm[1]
		case upper == "DATA":
			last = "DATA"
		default:
			last = upper
		}
	}
	if len(txs) == 0 {
		return nil, fmt.Errorf("no MAIL FROM in the transcript")
	}
	return txs, nil
}

// SMTPReply reads one reply (all lines of a multi-line one) from a raw
// connection: "code text", lines joined with "\n".
func SMTPReply(c *RawConn) (string, error) {
	var code string
	var text []string
	for {
		l, err := c.TryReadLine()
		if err != nil {
			return "", fmt.Errorf("reading a reply: %w (after %q)", err, text)
		}
		if len(l) < 3 {
			return "", fmt.Errorf("not a reply line: %q", l)
		}
		if code == "" {
			code = l[:3]
		}
		if len(l) == 3 {
			return code + " " + strings.Join(text, "\n"), nil
		}
		text = append(text, l[4:])
		if l[3] != '-' {
			return code + " " + strings.Join(text, "\n"), nil
		}
	}
}

// SMTPExpect sends line (with CRLF; nothing when empty) and reads one
// reply, which must start with prefix, or fails the test.
func SMTPExpect(t testing.TB, c *RawConn, line, prefix string) string {
	t.Helper()
	if line != "" {
		c.Write(line + "\r\n")
	}
	r, err := SMTPReply(c)
	if err != nil {
		t.Fatalf("after %q: %v", abbrev(line), err)
	}
	if !strings.HasPrefix(r, prefix) {
		t.Fatalf("after %q: got %q, want %q...", abbrev(line), r, prefix)
	}
	return r
}

// SMTPEnvelope runs hello ("EHLO name" or "LHLO name"), MAIL FROM
// sender@example.net and RCPT TO to, each accepted, and DATA up to its
// 354: the caller writes the message.
func SMTPEnvelope(t testing.TB, c *RawConn, hello, to string) {
	t.Helper()
	SMTPExpect(t, c, hello, "250")
	SMTPExpect(t, c, "MAIL FROM:<sender@example.net>", "250 ")
	SMTPExpect(t, c, "RCPT TO:<"+to+">", "250 ")
	SMTPExpect(t, c, "DATA", "354 ")
}

// RawDeliver sends one message with subject to the single recipient to
// on a connection past its greeting (see SMTPEnvelope), then QUIT, and
// returns the reply to the message.
func RawDeliver(t testing.TB, c *RawConn, hello, to, subject string) string {
	t.Helper()
	SMTPEnvelope(t, c, hello, to)
	c.Write(smtpMessage(SMTPSend{To: []string{to}, Subject: subject}) + ".\r\n")
	r := SMTPExpect(t, c, "", "250 ")
	SMTPExpect(t, c, "QUIT", "221 ")
	return r
}

// QueueID returns the Postfix queue ID in a "250 2.0.0 Ok: queued as ID"
// reply, or "".
func QueueID(reply string) string {
	if m := queuedRe.FindStringSubmatch(reply); m != nil {
		return m[1]
	}
	return ""
}

var queuedRe = regexp.MustCompile(`queued as ([0-9A-F]+)`)

// InboxHeaders logs in to Dovecot d's IMAP listener directly (the LOGIN
// command) as user, examines INBOX and returns the header of every
// message, in order.
func InboxHeaders(d *peers.Dovecot, user string) ([]mail.Header, error) {
	pass, ok := d.Users[user]
	if !ok {
		return nil, fmt.Errorf("dovecot %s has no user %s", d.Name, user)
	}
	c, err := net.DialTimeout("tcp", d.IMAPAddr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	r := bufio.NewReader(c)
	var (
		literals []string
		exists   = -1
	)
	readLine := func() (string, error) {
		l, err := r.ReadString('\n')
		return strings.TrimRight(l, "\r\n"), err
	}
	// cmd returns the tagged completion; the literals of the untagged
	// responses are collected in literals.
	cmd := func(tag, text string) (string, error) {
		if _, err := io.WriteString(c, tag+" "+text+"\r\n"); err != nil {
			return "", err
		}
		for {
			l, err := readLine()
			if err != nil {
				return "", fmt.Errorf("%s %s: %w", tag, text, err)
			}
			for strings.HasSuffix(l, "}") {
				i := strings.LastIndexByte(l, '{')
				if i < 0 {
					return "", fmt.Errorf("bad literal in %q", l)
				}
				n, err := strconv.Atoi(l[i+1 : len(l)-1])
				if err != nil || n < 0 || n > 1<<20 {
					return "", fmt.Errorf("bad literal in %q", l)
				}
				buf := make([]byte, n)
				if _, err := io.ReadFull(r, buf); err != nil {
					return "", err
				}
				literals = append(literals, string(buf))
				if l, err = readLine(); err != nil {
					return "", err
				}
			}
			if strings.HasPrefix(l, tag+" ") {
				return l, nil
			}
			if f := strings.Fields(l); len(f) == 3 && f[0] == "*" && f[2] == "EXISTS" {
				exists, _ = strconv.Atoi(f[1])
			}
		}
	}
	if g, err := readLine(); err != nil || !strings.HasPrefix(g, "* OK") {
		return nil, fmt.Errorf("dovecot %s greeting %q: %v", d.Name, g, err)
	}
	if tagged, err := cmd("h1", "LOGIN "+Quote(user)+" "+Quote(pass)); err != nil || !strings.HasPrefix(tagged, "h1 OK") {
		return nil, fmt.Errorf("dovecot %s LOGIN %s: %q %v", d.Name, user, tagged, err)
	}
	if tagged, err := cmd("h2", "EXAMINE INBOX"); err != nil || !strings.HasPrefix(tagged, "h2 OK") {
		return nil, fmt.Errorf("dovecot %s EXAMINE: %q %v", d.Name, tagged, err)
	}
	if exists < 0 {
		return nil, fmt.Errorf("dovecot %s: no EXISTS in the EXAMINE response", d.Name)
	}
	if exists == 0 {
		return nil, nil
	}
	literals = nil
	if tagged, err := cmd("h3", "FETCH 1:* (BODY.PEEK[HEADER])"); err != nil || !strings.HasPrefix(tagged, "h3 OK") {
		return nil, fmt.Errorf("dovecot %s FETCH: %q %v", d.Name, tagged, err)
	}
	if len(literals) != exists {
		return nil, fmt.Errorf("dovecot %s: %d headers fetched, %d messages exist", d.Name, len(literals), exists)
	}
	_, _ = cmd("h4", "LOGOUT")
	var out []mail.Header
	for _, lit := range literals {
		m, err := mail.ReadMessage(strings.NewReader(lit))
		if err != nil {
			return nil, fmt.Errorf("dovecot %s: unreadable header: %v\n%s", d.Name, err, lit)
		}
		out = append(out, m.Header)
	}
	return out, nil
}

// WithSubject returns the headers of the messages in user's INBOX on d
// whose Subject is exactly subject.
func WithSubject(d *peers.Dovecot, user, subject string) ([]mail.Header, error) {
	all, err := InboxHeaders(d, user)
	if err != nil {
		return nil, err
	}
	var out []mail.Header
	for _, h := range all {
		if h.Get("Subject") == subject {
			out = append(out, h)
		}
	}
	return out, nil
}

// CountSubject is how many messages in user's INBOX on d have exactly
// this Subject.
func CountSubject(d *peers.Dovecot, user, subject string) (int, error) {
	h, err := WithSubject(d, user, subject)
	return len(h), err
}

// Copies is how many copies of a message one mailbox should hold.
type Copies struct {
	D    *peers.Dovecot
	User string
	N    int
}

// ExpectCopies waits at most timeout until every mailbox in want holds
// exactly N messages with this Subject, and fails at once when one holds
// more (a duplicate never goes away).
func ExpectCopies(t testing.TB, subject string, timeout time.Duration, want ...Copies) {
	t.Helper()
	var tooMany error
	err := harness.Eventually(timeout, func() error {
		var miss []string
		for _, w := range want {
			n, err := CountSubject(w.D, w.User, subject)
			if err != nil {
				return err
			}
			if n > w.N {
				tooMany = fmt.Errorf("%s's INBOX on %s holds %d messages with Subject %q, want %d", w.User, w.D.Name, n, subject, w.N)
				return nil
			}
			if n != w.N {
				miss = append(miss, fmt.Sprintf("%s on %s: %d, want %d", w.User, w.D.Name, n, w.N))
			}
		}
		if len(miss) > 0 {
			return fmt.Errorf("messages with Subject %q: %s", subject, strings.Join(miss, "; "))
		}
		return nil
	})
	if tooMany != nil {
		t.Fatal(tooMany)
	}
	if err != nil {
		t.Fatal(err)
	}
}
