//go:build linux

package e2e

import (
	"cmp"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
)

// CyrusLogin describes one run of a Cyrus test client (cyrus-clients:
// pop3test, sivtest, smtptest; imtest has its own driver in clients.go):
// connect, authenticate with -a/-w/-m, send Script, end at EOF (the client
// then sends its own QUIT or LOGOUT).
type CyrusLogin struct {
	Addr     string
	User     string
	Password string
	// Mech is the SASL mechanism (-m); pop3test also takes "user"
	// (USER/PASS). sivtest 3.6 hangs in AUTHENTICATE "LOGIN": use PLAIN.
	Mech string
	// TLS is "plain", "starttls" (-t "") or "implicit" (-s; pop3test and
	// smtptest only). Empty means "plain".
	TLS string
	// Script is sent after the authentication. Use CRLF line ends: the
	// clients turn a bare LF into CRLF, which breaks literal counts.
	Script string
	// Timeout bounds the whole run (default 20s).
	Timeout time.Duration
}

func (o CyrusLogin) timeout() time.Duration { return timeoutOr(o.Timeout, 20*time.Second) }

// cyrusAuthenticated is the line the Cyrus clients print after a
// successful authentication ("Authentication failed. ..." otherwise).
var cyrusAuthenticated = regexp.MustCompile(`(?m)^Authenticated\.\r?$`)

// runCyrusClient runs one Cyrus test client with o and returns its
// transcript. The clients exit 0 whatever the server said, so success is
// read from the transcript: an error unless the client authenticated.
func runCyrusClient(t testing.TB, name string, o CyrusLogin) (string, error) {
	t.Helper()
	bin := harness.RequireBinary(t, name)
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", port, "-a", o.User, "-w", o.Password, "-m", o.Mech}
	switch cmp.Or(o.TLS, "plain") {
	case "starttls":
		args = append(args, "-t", "")
	case "implicit":
		if name == "sivtest" {
			return "", fmt.Errorf("sivtest has no implicit TLS")
		}
		args = append(args, "-s")
	case "plain":
	default:
		return "", fmt.Errorf("%s: unknown TLS mode %q", name, o.TLS)
	}
	args = append(args, host)
	stdout, stderr, err := harness.RunBounded(o.timeout(), []byte(o.Script), bin, args...)
	out := stdout + stderr
	if err != nil {
		return out, fmt.Errorf("%s: %v: %s", name, err, out)
	}
	if !cyrusAuthenticated.MatchString(stdout) {
		return out, fmt.Errorf("%s: not authenticated: %s", name, out)
	}
	return out, nil
}

// SivTest runs Cyrus sivtest (ManageSieve) and returns its transcript;
// an error unless it authenticated.
func SivTest(t testing.TB, o CyrusLogin) (string, error) {
	t.Helper()
	return runCyrusClient(t, "sivtest", o)
}

// SieveLiteral renders a ManageSieve non-synchronizing literal
// ({n+}CRLF text) for a script, with its lines ended by CRLF.
func SieveLiteral(script string) string {
	s := strings.ReplaceAll(strings.ReplaceAll(script, "\r\n", "\n"), "\n", "\r\n")
	return fmt.Sprintf("{%d+}\r\n%s", len(s), s)
}

// SMTPTest runs Cyrus smtptest (SMTP submission) and returns its
// transcript; an error unless it authenticated.
func SMTPTest(t testing.TB, o CyrusLogin) (string, error) {
	t.Helper()
	return runCyrusClient(t, "smtptest", o)
}

// SMTPTestMessage is a smtptest script that submits one message from
// "from" to "to" (MAIL, RCPT, DATA and the message, pipelined: the
// clients do not wait for replies).
func SMTPTestMessage(from, to, subject string) string {
	return "MAIL FROM:<" + from + ">\r\nRCPT TO:<" + to + ">\r\nDATA\r\n" +
		"From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject + "\r\n\r\nsent by smtptest\r\n.\r\n"
}
