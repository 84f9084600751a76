package smtp

import (
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
)

func TestParseReply(t *testing.T) {
	for _, c := range []struct {
		in    string
		code  int
		lines []string
		n     int
		bad   bool
	}{
		{in: "220 mx.test ESMTP\r\n", code: 220, lines: []string{"mx.test ESMTP"}, n: 19},
		{in: "250-mx.test\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\nnext", code: 250, lines: []string{"mx.test", "PIPELINING", "AUTH PLAIN"}, n: 45},
		{in: "250\n", code: 250, lines: []string{""}, n: 4},
		{in: "250-mx.test\r\n250-PIPE", n: 0},
		{in: "", n: 0},
		{in: "hello\r\n", bad: true},
		{in: "250-a\r\n550 b\r\n", bad: true},
		{in: "250 " + strings.Repeat("x", smtpwire.MaxReplyLine) + "\r\n", bad: true},
		{in: strings.Repeat("250-x\r\n", smtpwire.MaxReplyLines) + "250 x\r\n", bad: true},
	} {
		code, lines, n, err := ParseReply([]byte(c.in))
		if c.bad {
			if err == nil {
				t.Errorf("%.40q: no error", c.in)
			}
			continue
		}
		if err != nil || code != c.code || n != c.n || !reflect.DeepEqual(lines, c.lines) {
			t.Errorf("%.40q: %d %q %d %v, want %d %q %d", c.in, code, lines, n, err, c.code, c.lines, c.n)
		}
	}
}

func TestNarrowExtensions(t *testing.T) {
	got := NarrowExtensions(
		[]string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "SIZE 100000000", "CHUNKING"},
		[]string{"PIPELINING", "SIZE 10240000", "8BITMIME", "AUTH PLAIN LOGIN", "DSN"},
	)
	want := []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 10240000"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// GreetingReady is the other half of package health's SMTP checks: the
// active check's verdict on a greeting.
func TestGreetingReady(t *testing.T) {
	prototest.CheckGreetingReady(t, GreetingReady,
		[]string{"220 mx ESMTP\r\n", "220-mx ESMTP\r\n"},
		[]string{"421 busy\r\n", "554 no service\r\n", ""})
}
