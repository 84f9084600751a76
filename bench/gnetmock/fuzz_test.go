package gnetmock

import (
	"bytes"
	"testing"
)

// FuzzRespond: whatever arrives, Respond consumes only what it answered,
// never holds an unended line over MaxLine, answers in CRLF lines, and
// answers the same whether the bytes come at once or one at a time.
func FuzzRespond(f *testing.F) {
	for _, s := range []string{
		"a AUTHENTICATE PLAIN AHVzZXIwAHBhc3N3b3Jk\r\nb NOOP\r\nc LOGOUT\r\n",
		"a LOGIN u p\nb CAPABILITY\r\nc ID (\"name\" \"x\")\r\n",
		"a AUTHENTICATE PLAIN\r\n", "\r\n", " NOOP\r\n", "a\r\n", "a noop",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n, out, closeAfter, _ := Respond(in, nil)
		if n < 0 || n > len(in) {
			t.Fatalf("consumed %d of %d", n, len(in))
		}
		if !closeAfter && (bytes.IndexByte(in[n:], '\n') >= 0 || len(in)-n > MaxLine) {
			t.Fatalf("left %q unanswered", in[n:])
		}
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("reply %q does not end a line", out)
		}
		// One byte at a time, as a slow client sends it.
		var buf, out1 []byte
		closed := false
		for _, b := range in {
			buf = append(buf, b)
			k, o, c, _ := Respond(buf, out1)
			out1, buf = o, buf[k:]
			if c {
				closed = true
				break
			}
		}
		if closed != closeAfter || !bytes.Equal(out, out1) {
			t.Fatalf("at once: %q close=%v; byte by byte: %q close=%v", out, closeAfter, out1, closed)
		}
	})
}
