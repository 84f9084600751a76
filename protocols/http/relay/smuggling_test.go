package relay

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/http/codec"
)

// relayStream runs a client's byte stream through the head parser, the
// forwarding and the body framer the way the engine will. It returns, for
// each request it framed, the forwarded head's request line and framing
// field, and how many body octets went with it; or the status the client
// was refused with.
func relayStream(t *testing.T, stream string) (msgs []string, status int) {
	t.Helper()
	in := []byte(stream)
	for len(in) > 0 {
		h, n, err := codec.ParseRequestHead(in, codec.Limits{})
		if err != nil {
			return msgs, statusOf(err)
		}
		if h == nil {
			break
		}
		in = in[n:]
		out := AppendForward(nil, h, ForwardOptions{})
		// The backend reads what is forwarded exactly as the proxy did.
		h2, n2, err := codec.ParseRequestHead(out, codec.Limits{})
		if err != nil || n2 != len(out) || h2.Chunked != h.Chunked || h2.ContentLength != h.ContentLength {
			t.Fatalf("forwarded head reads differently: %q %v", out, err)
		}
		line, _, _ := strings.Cut(string(out), "\r\n")
		framing := "-"
		if h.Chunked {
			framing = "chunked"
			if c := strings.Count(string(out), "Transfer-Encoding"); c != 1 || !strings.Contains(string(out), "\r\nTransfer-Encoding: chunked\r\n") {
				t.Fatalf("forwarded TE is not canonical: %q", out)
			}
		} else if h.ContentLength >= 0 {
			framing = fmt.Sprint("CL ", h.ContentLength)
		}
		kind, length := h.Body()
		b := codec.NewBody(kind, length, codec.Limits{})
		n, done, err := b.Feed(in)
		if err != nil {
			return msgs, statusOf(err)
		}
		msgs = append(msgs, fmt.Sprintf("%s [%s] %d", line, framing, n))
		in = in[n:]
		if !done {
			msgs = append(msgs, "(body incomplete)")
			break
		}
	}
	if len(in) > 0 {
		msgs = append(msgs, fmt.Sprintf("(%d octets pending)", len(in)))
	}
	return msgs, 0
}

// TestSmuggling replays the classic desync vectors (Watchfire 2005,
// PortSwigger's "HTTP Desync Attacks" 2019 and its TE obfuscation list,
// RFC 9112 section 11.2). Each is either refused with the right status
// or framed the one way a backend reading the forwarded bytes must agree
// with.
func TestSmuggling(t *testing.T) {
	const pre = "POST / HTTP/1.1|Host: a|"
	tests := []struct {
		name, stream string
		status       int
		want         string // framed messages when accepted
	}{
		// CL.TE and TE.CL: both framings in one request.
		{"CL.TE", pre + "Content-Length: 13|Transfer-Encoding: chunked||0||SMUGGLED", 400, ""},
		{"TE.CL", pre + "Transfer-Encoding: chunked|Content-Length: 3||8|SMUGGLED|0||", 400, ""},
		{"CL 0 and TE", pre + "Content-Length: 0|Transfer-Encoding: chunked||", 400, ""},

		// TE.TE: an obfuscated Transfer-Encoding one side may ignore.
		{"space before colon", pre + "Transfer-Encoding : chunked||0||", 400, ""},
		{"xchunked", pre + "Transfer-Encoding: xchunked||0||", 400, ""},
		{"chunk", pre + "Transfer-Encoding: chunk||0||", 400, ""},
		{"chunked, identity", pre + "Transfer-Encoding: chunked, identity||0||", 400, ""},
		{"identity, chunked", pre + "Transfer-Encoding: identity, chunked||0||", 501, ""},
		{"duplicate TE", pre + "Transfer-Encoding: chunked|Transfer-Encoding: chunked||0||", 400, ""},
		{"TE then junk TE", pre + "Transfer-Encoding: chunked|Transfer-Encoding: x||0||", 400, ""},
		{"quoted chunked", pre + "Transfer-Encoding: \"chunked\"||0||", 400, ""},
		{"TE obs-fold", pre + "X: y|Transfer-Encoding:| chunked||0||", 400, ""},
		{"TE as continuation", pre + "X: y| Transfer-Encoding: chunked||0||", 400, ""},
		{"TE after bare LF", "POST / HTTP/1.1\r\nHost: a\r\nX: y\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE name then LF", pre + "Transfer-Encoding\n: chunked||0||", 400, ""},
		{"TE with NUL", pre + "Transfer-Encoding: chunked\x00||0||", 400, ""},
		{"TE with VT", pre + "Transfer-Encoding: \x0bchunked||0||", 400, ""},
		{"TE with FF", pre + "Transfer-Encoding: chunked\x0c||0||", 400, ""},
		{"TE with bare CR", pre + "X: y\rTransfer-Encoding: chunked||0||", 400, ""},
		{"Transfer_Encoding", pre + "Transfer_Encoding: chunked||0||", 400, ""},
		{"TE in HTTP/1.0", "POST / HTTP/1.0|Transfer-Encoding: chunked||0||", 400, ""},
		{"TE tab is plain OWS", pre + "Transfer-Encoding:\tchunked||0||",
			0, "[POST / HTTP/1.1 [chunked] 5]"},
		{"TE mixed case", pre + "Transfer-Encoding: cHuNkEd||0||",
			0, "[POST / HTTP/1.1 [chunked] 5]"},

		// Content-Length spellings.
		{"CL plus", pre + "Content-Length: +3||abc", 400, ""},
		{"CL minus", pre + "Content-Length: -1||abc", 400, ""},
		{"CL hex", pre + "Content-Length: 0x3||abc", 400, ""},
		{"CL inner space", pre + "Content-Length: 1 3||abc", 400, ""},
		{"CL list", pre + "Content-Length: 3, 3||abc", 400, ""},
		{"CL list no space", pre + "Content-Length: 3,3||abc", 400, ""},
		{"CL differing duplicates", pre + "Content-Length: 3|Content-Length: 4||abcd", 400, ""},
		{"CL zero-padded duplicate", pre + "Content-Length: 3|Content-Length: 03||abc", 400, ""},
		{"CL space before colon", pre + "Content-Length : 3||abc", 400, ""},
		{"CL NUL", pre + "Content-Length: 3\x00||abc", 400, ""},
		{"CL VT", pre + "Content-Length:\x0b3||abc", 400, ""},
		{"Content_Length", pre + "Content_Length: 3||abc", 400, ""},
		{"CL overflow", pre + "Content-Length: 99999999999999999999||", 400, ""},
		{"CL leading zeros, rewritten", pre + "Content-Length: 003||abcGET / HTTP/1.1|Host: a||",
			0, "[POST / HTTP/1.1 [CL 3] 3 GET / HTTP/1.1 [-] 0]"},
		{"CL identical duplicates", pre + "Content-Length: 3|Content-Length: 3||abc",
			0, "[POST / HTTP/1.1 [CL 3] 3]"},
		{"CL with OWS", pre + "Content-Length: \t3 ||abc",
			0, "[POST / HTTP/1.1 [CL 3] 3]"},

		// Line ends, names and values.
		{"LF-only head", "POST / HTTP/1.1\nHost: a\nContent-Length: 3\n\nabc", 400, ""},
		{"LF-only end of head", "GET / HTTP/1.1\r\nHost: a\r\n\nGET /admin HTTP/1.1\r\n\r\n", 400, ""},
		{"name with trailing space", pre + "Host : b||", 400, ""},
		{"NUL in value", pre + "X: a\x00b||", 400, ""},
		{"bare CR in value", pre + "X: a\rb||", 400, ""},
		{"two Hosts", "GET / HTTP/1.1|Host: a|Host: b||", 400, ""},
		{"absolute-form beats Host", "GET http://b/x HTTP/1.1|Host: a||",
			0, "[GET /x HTTP/1.1 [-] 0]"},
		{"HTTP/0.9", "GET /||", 400, ""},

		// Chunked bodies.
		{"chunk size 17 digits", pre + "Transfer-Encoding: chunked||fffffffffffffffff|x|0||", 400, ""},
		{"chunk size 2^64", pre + "Transfer-Encoding: chunked||10000000000000000|x|0||", 400, ""},
		{"chunk size 0x", pre + "Transfer-Encoding: chunked||0x10|0123456789abcdef|0||", 400, ""},
		{"chunk size negative", pre + "Transfer-Encoding: chunked||-1|x|0||", 400, ""},
		{"chunk size with space", pre + "Transfer-Encoding: chunked||3 |abc|0||", 400, ""},
		{"chunk size LF", pre + "Transfer-Encoding: chunked||3\nabc\r\n0\r\n\r\n", 400, ""},
		{"chunk data overrun", pre + "Transfer-Encoding: chunked||3|abcd|0||", 400, ""},
		{"extension too long", pre + "Transfer-Encoding: chunked||3;" + strings.Repeat("a", 5000) + "|abc|0||", 400, ""},
		{"extensions too many", pre + "Transfer-Encoding: chunked||" + strings.Repeat("1;"+strings.Repeat("e", 1000)+"|x|", 20) + "0||", 400, ""},
		{"extension with LF", pre + "Transfer-Encoding: chunked||3;a\nabc|0||", 400, ""},
		{"trailer Content-Length", pre + "Transfer-Encoding: chunked||0|Content-Length: 5||", 400, ""},
		{"chunked then next request", pre + "Transfer-Encoding: chunked||3;n=v|abc|0|X-T: 1||GET /next HTTP/1.1|Host: a||",
			0, "[POST / HTTP/1.1 [chunked] 25 GET /next HTTP/1.1 [-] 0]"},
		{"leading CRLF between requests", "GET /1 HTTP/1.1|Host: a||" + "|GET /2 HTTP/1.1|Host: a||",
			0, "[GET /1 HTTP/1.1 [-] 0 GET /2 HTTP/1.1 [-] 0]"},
		{"request inside a GET body is body", "GET / HTTP/1.1|Host: a|Content-Length: 28||GET /x HTTP/1.1|Host: a||",
			0, "[GET / HTTP/1.1 [CL 28] 28]"},
		{"body cut short", "POST / HTTP/1.1|Host: a|Content-Length: 10||GET /",
			0, "[POST / HTTP/1.1 [CL 10] 5 (body incomplete)]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, status := relayStream(t, crlf(tt.stream))
			if status != tt.status {
				t.Fatalf("status %d, want %d (framed %v)", status, tt.status, msgs)
			}
			if status == 0 && fmt.Sprint(msgs) != tt.want {
				t.Fatalf("framed %v\nwant   %s", msgs, tt.want)
			}
		})
	}
}
