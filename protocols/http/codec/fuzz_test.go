package codec

import (
	"bytes"
	"io"
	"net/http/httputil"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

// Small limits, to reach every refusal.
var fuzzSmallLimits = Limits{MaxHead: 512, MaxFields: 8, MaxFieldLine: 128, MaxTarget: 64,
	MaxChunkLine: 16, MaxChunkExt: 40, MaxTrailer: 40}

// FuzzChunked: no panic; never claims more than given; at once, in random
// pieces and one octet at a time give the same verdict, Feed and Decode
// alike; and what is accepted decodes as net/http decodes it.
func FuzzChunked(f *testing.F) {
	for _, s := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"a;x=y;q=\"a\\\"b\"\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1",
		"0000000000000001\r\nx\r\n0\r\n\r\n",
		"fffffffffffffffff\r\n",
		"0x5\r\nhello\r\n0\r\n\r\n",
		"-1\r\n",
		"5 ;a\r\nhello\r\n0\r\n\r\n",
		"1;" + strings.Repeat("e", 20) + "\r\nx\r\n0\r\n\r\n",
		"0\r\nContent-Length: 5\r\n\r\n",
		"5\nhello\n0\n\n",
	} {
		f.Add([]byte(s), []byte{1, 4}, uint8(0))
		f.Add([]byte(s), []byte{}, uint8(1))
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		lim := Limits{}
		if flags&1 != 0 {
			lim = fuzzSmallLimits
		}
		whole := feedChunked(data, lim, 0, true)
		if whole.n > len(data) || len(whole.data) > whole.n {
			t.Fatalf("claimed %d of %d, decoded %d", whole.n, len(data), len(whole.data))
		}
		feed := feedChunked(data, lim, 0, false)
		if feed.data = whole.data; feed != whole {
			t.Fatalf("Feed %+v, Decode %+v", feed, whole)
		}
		if len(data) > 8192 {
			return
		}
		if bytewise := feedChunked(data, lim, 1, true); bytewise != whole {
			t.Fatalf("byte at a time %+v, at once %+v", bytewise, whole)
		}
		c := NewChunkedBody(lim)
		var r chunkedRun
		var out []byte
		for _, end := range prototest.Cuts(data, cuts) {
			if end <= r.n {
				continue
			}
			n, o, done, err := c.Decode(data[r.n:end], out)
			out = o
			r.n += n
			if err != nil || done {
				r.done, r.status = done, statusOf(err)
				break
			}
		}
		if r.data = string(out); r != whole {
			t.Fatalf("in pieces %+v, at once %+v", r, whole)
		}
		if whole.done && flags&1 == 0 && len(data) < 4000 {
			theirs, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data[:whole.n])))
			if err != nil || string(theirs) != whole.data {
				t.Fatalf("net/http decodes %q (%v), we %q", theirs, err, whole.data)
			}
		}
	})
}
