package codec

import (
	"bytes"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
)

// chunkedRun is the verdict of a ChunkedBody on some input.
type chunkedRun struct {
	n      int
	done   bool
	status int
	data   string
}

// feedChunked feeds in in pieces of at most step octets (0: at once),
// the way the engine does: it stops at done or at a refusal.
func feedChunked(in []byte, lim Limits, step int, decode bool) chunkedRun {
	c := NewChunkedBody(lim)
	var r chunkedRun
	var out []byte
	for r.n < len(in) || len(in) == 0 {
		end := len(in)
		if step > 0 {
			end = min(r.n+step, len(in))
		}
		var n int
		var err error
		var done bool
		if decode {
			n, out, done, err = c.Decode(in[r.n:end], out)
		} else {
			n, done, err = c.Feed(in[r.n:end])
		}
		if n > end-r.n {
			panic("claimed more than given")
		}
		r.n += n
		if err != nil || done || len(in) == 0 {
			r.done, r.status = done, statusOf(err)
			break
		}
	}
	r.data = string(out)
	return r
}

func TestChunked(t *testing.T) {
	tests := []struct {
		name, in string
		n        int // octets of the body; -1: all of in
		done     bool
		status   int
		data     string
	}{
		{"simple", "5|hello|0||", -1, true, 0, "hello"},
		{"two chunks", "5|hello|6| world|0||", -1, true, 0, "hello world"},
		{"hex", "A|0123456789|a|0123456789|0||", -1, true, 0, "01234567890123456789"},
		{"leading zeros", "0005|hello|000||", -1, true, 0, "hello"},
		{"sixteen digits", "000000000000000a|0123456789|0||", -1, true, 0, "0123456789"},
		{"biggest size", "7fffffffffffffff|ab", -1, false, 0, "ab"},
		{"extensions", "5;a;b=c;d=\"e;f\\\"g\"|hello|0;last||", -1, true, 0, "hello"},
		{"trailers", "5|hello|0|X-Checksum: abc|X-Empty:||", -1, true, 0, "hello"},
		{"next message after", "0||GET / HTTP/1.1", 5, true, 0, ""},
		{"incomplete", "5|hel", -1, false, 0, "hel"},
		{"empty", "", 0, false, 0, ""},

		{"no digits", "|", 0, false, 400, ""},
		{"0x prefix", "0x5|hello|0||", 1, false, 400, ""},
		{"negative", "-5|hello|0||", 0, false, 400, ""},
		{"plus", "+5|hello|0||", 0, false, 400, ""},
		{"leading space", " 5|hello|0||", 0, false, 400, ""},
		{"trailing space", "5 |hello|0||", 1, false, 400, ""},
		{"tab", "5\t|hello|0||", 1, false, 400, ""},
		{"space before ext", "5 ;a|hello|0||", 1, false, 400, ""},
		{"space after ;", "5; a|hello|0||", 2, false, 400, ""},
		{"space around =", "5;a = b|hello|0||", 3, false, 400, ""},
		{"sixteen f overflow", "fffffffffffffffff|", 15, false, 400, ""},
		{"seventeen digits", "00000000000000001|", 16, false, 400, ""},
		{"seventeen zeros", "00000000000000000|", 16, false, 400, ""},
		{"overflow 2^63", "8000000000000000|", 15, false, 400, ""},
		{"overflow 2^64-1", "ffffffffffffffff|", 15, false, 400, ""},
		{"bare LF after size", "5\nhello\r\n0\r\n\r\n", 1, false, 400, ""},
		{"bare CR after size", "5\rhello|0||", 2, false, 400, ""},
		{"bare LF after data", "5|hello\n0||", 8, false, 400, "hello"},
		{"data too long", "5|helloX|0||", 8, false, 400, "hello"},
		{"empty ext", "5;|hello|0||", 2, false, 400, ""},
		{"ext without name", "5;=a|hello|0||", 2, false, 400, ""},
		{"ext empty value", "5;a=|hello|0||", 4, false, 400, ""},
		{"ext unterminated quote", "5;a=\"b|hello", 6, false, 400, ""},
		{"ext CR in quote", "5;a=\"b\rc\"|", 6, false, 400, ""},
		{"ext NUL", "5;a\x00|", 3, false, 400, ""},
		{"ext after quote", "5;a=\"b\"c|", 7, false, 400, ""},
		{"last chunk bare LF", "0\n\r\n", 1, false, 400, ""},
		{"final bare LF", "0|\n", 3, false, 400, ""},
		{"final CR junk", "0|\rX", 4, false, 400, ""},
		{"trailer obs-fold", "0|X: a| b||", 9, false, 400, ""},
		{"trailer space before colon", "0|X : a||", 4, false, 400, ""},
		{"trailer no colon", "0|X a||", 4, false, 400, ""},
		{"trailer NUL", "0|X: \x00||", 6, false, 400, ""},
		{"trailer bare CR", "0|X: a\rb||", 8, false, 400, ""},
		{"trailer bare LF", "0|X: a\n|", 7, false, 400, ""},
		{"trailer content-length", "0|Content-Length: 5||", 17, false, 400, ""},
		{"trailer transfer-encoding", "0|transfer-ENCODING: chunked||", 20, false, 400, ""},
		{"trailer host", "0|Host: evil||", 7, false, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(crlf(tt.in))
			want := chunkedRun{n: tt.n, done: tt.done, status: tt.status, data: tt.data}
			if tt.n < 0 {
				want.n = len(in)
			}
			for _, step := range []int{0, 1, 2, 3, 7} {
				if got := feedChunked(in, Limits{}, step, true); got != want {
					t.Fatalf("Decode, step %d: %+v, want %+v", step, got, want)
				}
				got := feedChunked(in, Limits{}, step, false)
				if got.data = want.data; got != want {
					t.Fatalf("Feed, step %d: %+v, want %+v", step, got, want)
				}
			}
		})
	}
}

func TestChunkedLimits(t *testing.T) {
	lim := Limits{MaxChunkLine: 10, MaxChunkExt: 20, MaxTrailer: 12}
	tests := []struct {
		name, in string
		status   int
	}{
		{"line at limit", "1;abcdefgh|x|0||", 0},
		{"line over limit", "1;abcdefghi|x|0||", 400},
		{"line over limit, no CR yet", "1;abcdefghij", 400},
		{"ext total at limit", "1;abcdefgh|x|1;abcdefgh|x|1;a|x|0||", 0},
		{"ext total over limit", "1;abcdefgh|x|1;abcdefgh|x|1;ab|x|0||", 400},
		{"trailer at limit", "0|X: 12345||", 0},
		{"trailer over limit", "0|X: 123456||", 400},
	}
	for _, tt := range tests {
		in := []byte(crlf(tt.in))
		whole := feedChunked(in, lim, 0, false)
		if whole.status != tt.status || (tt.status == 0 && (!whole.done || whole.n != len(in))) {
			t.Errorf("%s: %+v, want status %d", tt.name, whole, tt.status)
		}
		if bytewise := feedChunked(in, lim, 1, false); bytewise != whole {
			t.Errorf("%s: byte at a time %+v, at once %+v", tt.name, bytewise, whole)
		}
	}
}

func TestChunkedAfterError(t *testing.T) {
	c := NewChunkedBody(Limits{})
	if _, _, err := c.Feed([]byte("x")); err == nil {
		t.Fatal("accepted x")
	}
	if n, done, err := c.Feed([]byte("0\r\n\r\n")); n != 0 || done || err == nil {
		t.Fatalf("after an error: %d %v %v", n, done, err)
	}
	var z ChunkedBody // the zero value works, with default limits
	if n, done, err := z.Feed([]byte("0\r\n\r\nX")); n != 5 || !done || err != nil || !z.Done() {
		t.Fatalf("zero value: %d %v %v", n, done, err)
	}
	if n, done, err := z.Feed([]byte("X")); n != 0 || !done || err != nil {
		t.Fatalf("after done: %d %v %v", n, done, err)
	}
}

// What the framer accepts, the standard library's chunked reader decodes
// to the same data (it does not read trailers, so those are cut off).
func TestChunkedAgreesWithStdlib(t *testing.T) {
	for _, in := range []string{
		"5|hello|0||",
		"A|0123456789|a|0123456789|0||",
		"0005|hello|000||",
		"5;a;b=c;d=\"e;f\\\"g\"|hello|0;last||",
		"5|hello|0|X-Checksum: abc||",
		"1|a|2|bc|3|def|0||",
	} {
		in := []byte(crlf(in))
		ours := feedChunked(in, Limits{}, 0, true)
		if !ours.done {
			t.Fatalf("%q: %+v", in, ours)
		}
		theirs, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(in)))
		if err != nil || string(theirs) != ours.data {
			t.Errorf("%q: stdlib %q %v, ours %q", in, theirs, err, ours.data)
		}
	}
}

func TestContentLengthBody(t *testing.T) {
	b := NewContentLengthBody(5)
	if n, done := b.Feed([]byte("abc")); n != 3 || done || b.Remaining() != 2 {
		t.Fatalf("%d %v %d", n, done, b.Remaining())
	}
	if n, done := b.Feed([]byte("deGET")); n != 2 || !done || b.Remaining() != 0 {
		t.Fatalf("%d %v", n, done)
	}
	z := NewContentLengthBody(0)
	if n, done := z.Feed([]byte("x")); n != 0 || !done {
		t.Fatalf("empty body: %d %v", n, done)
	}
}

func TestBody(t *testing.T) {
	in := []byte("3\r\nabc\r\n0\r\n\r\nNEXT")
	for _, tt := range []struct {
		kind   BodyKind
		length int64
		n      int
		done   bool
	}{
		{BodyNone, 0, 0, true},
		{BodyLength, 4, 4, true},
		{BodyLength, 100, len(in), false},
		{BodyChunked, -1, len(in) - 4, true},
		{BodyUntilClose, -1, len(in), false},
	} {
		b := NewBody(tt.kind, tt.length, Limits{})
		n, done, err := b.Feed(in)
		if n != tt.n || done != tt.done || err != nil {
			t.Errorf("%v: %d %v %v", tt.kind, n, done, err)
		}
		if !strings.Contains("none length chunked until-close", tt.kind.String()) {
			t.Errorf("String %q", tt.kind)
		}
	}
}
