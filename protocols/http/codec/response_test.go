package codec

import (
	"fmt"
	"testing"
)

func TestResponseHead(t *testing.T) {
	tests := []struct {
		name, head, method string
		status             int // of the refusal, 0 for none
		code               int
		body               BodyKind
		length             int64
	}{
		{"length", "HTTP/1.1 200 OK|Content-Length: 5||", "GET", 0, 200, BodyLength, 5},
		{"chunked", "HTTP/1.1 200 OK|Transfer-Encoding: chunked||", "GET", 0, 200, BodyChunked, -1},
		{"until close", "HTTP/1.1 200 OK||", "GET", 0, 200, BodyUntilClose, -1},
		{"http/1.0 until close", "HTTP/1.0 200 OK||", "GET", 0, 200, BodyUntilClose, -1},
		{"head", "HTTP/1.1 200 OK|Content-Length: 5||", "HEAD", 0, 200, BodyNone, 0},
		{"head chunked", "HTTP/1.1 200 OK|Transfer-Encoding: chunked||", "HEAD", 0, 200, BodyNone, 0},
		{"204", "HTTP/1.1 204 No Content||", "GET", 0, 204, BodyNone, 0},
		{"204 with length", "HTTP/1.1 204 No Content|Content-Length: 0||", "DELETE", 0, 204, BodyNone, 0},
		{"304", "HTTP/1.1 304 Not Modified|Content-Length: 50||", "GET", 0, 304, BodyNone, 0},
		{"100", "HTTP/1.1 100 Continue||", "PUT", 0, 100, BodyNone, 0},
		{"103", "HTTP/1.1 103 Early Hints|Link: </s.css>; rel=preload||", "GET", 0, 103, BodyNone, 0},
		{"101", "HTTP/1.1 101 Switching Protocols|Connection: upgrade|Upgrade: websocket||", "GET", 0, 101, BodyNone, 0},
		{"connect 200", "HTTP/1.1 200 Connection established||", "CONNECT", 0, 200, BodyNone, 0},
		{"connect 407", "HTTP/1.1 407 Proxy Authentication Required|Content-Length: 2||", "CONNECT", 0, 407, BodyLength, 2},
		{"empty reason", "HTTP/1.1 200 |Content-Length: 0||", "GET", 0, 200, BodyLength, 0},
		{"no reason, no space", "HTTP/1.1 404|Content-Length: 0||", "GET", 0, 404, BodyLength, 0},
		{"reason with spaces", "HTTP/1.1 500 Internal  Server Error |Content-Length: 0||", "GET", 0, 500, BodyLength, 0},
		{"duplicate length", "HTTP/1.1 200 OK|Content-Length: 5|Content-Length: 5||", "GET", 0, 200, BodyLength, 5},

		{"short code", "HTTP/1.1 20 OK||", "GET", 502, 0, 0, 0},
		{"long code", "HTTP/1.1 2000 OK||", "GET", 502, 0, 0, 0},
		{"code 099", "HTTP/1.1 099 X||", "GET", 502, 0, 0, 0},
		{"code 600", "HTTP/1.1 600 X||", "GET", 502, 0, 0, 0},
		{"http/2", "HTTP/2 200 OK||", "GET", 502, 0, 0, 0},
		{"http/2.0", "HTTP/2.0 200 OK||", "GET", 502, 0, 0, 0},
		{"lowercase", "http/1.1 200 OK||", "GET", 502, 0, 0, 0},
		{"two spaces", "HTTP/1.1  200 OK||", "GET", 502, 0, 0, 0},
		{"NUL in reason", "HTTP/1.1 200 O\x00K||", "GET", 502, 0, 0, 0},
		{"CR in reason", "HTTP/1.1 200 O\rK||", "GET", 502, 0, 0, 0},
		{"empty first line", "|HTTP/1.1 200 OK||", "GET", 502, 0, 0, 0},
		{"length and chunked", "HTTP/1.1 200 OK|Content-Length: 5|Transfer-Encoding: chunked||", "GET", 502, 0, 0, 0},
		{"gzip", "HTTP/1.1 200 OK|Transfer-Encoding: gzip||", "GET", 502, 0, 0, 0},
		{"gzip, chunked", "HTTP/1.1 200 OK|Transfer-Encoding: gzip, chunked||", "GET", 502, 0, 0, 0},
		{"chunked twice", "HTTP/1.1 200 OK|Transfer-Encoding: chunked, chunked||", "GET", 502, 0, 0, 0},
		{"chunked in 1.0", "HTTP/1.0 200 OK|Transfer-Encoding: chunked||", "GET", 502, 0, 0, 0},
		{"length mismatch", "HTTP/1.1 200 OK|Content-Length: 5|Content-Length: 6||", "GET", 502, 0, 0, 0},
		{"bad length", "HTTP/1.1 200 OK|Content-Length: -1||", "GET", 502, 0, 0, 0},
		{"obs-fold", "HTTP/1.1 200 OK|X: a| b||", "GET", 502, 0, 0, 0},
		{"space before colon", "HTTP/1.1 200 OK|Content-Length : 5||", "GET", 502, 0, 0, 0},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 5\r\n\r\n", "GET", 502, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := crlf(tt.head)
			h, n, err := parseResp(t, in, Limits{})
			if got := statusOf(err); got != tt.status {
				t.Fatalf("status %d (%v), want %d", got, err, tt.status)
			}
			if err != nil {
				return
			}
			if n != len(in) || h.Status != tt.code {
				t.Fatalf("n %d code %d", n, h.Status)
			}
			if k, l := h.Body(tt.method); k != tt.body || l != tt.length {
				t.Fatalf("Body(%s) = %v %d, want %v %d", tt.method, k, l, tt.body, tt.length)
			}
		})
	}
}

func TestResponseFields(t *testing.T) {
	h, _, err := parseResp(t, crlf("HTTP/1.1 200 OK|Content-Type: application/json|Set-Cookie: a=1|Set-Cookie: b=2|Connection: close||"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Reason != "OK" || h.Version != HTTP11 || h.Get("content-type") != "application/json" ||
		fmt.Sprint(h.Values("set-cookie")) != "[a=1 b=2]" || !h.ConnClose || h.Interim() {
		t.Fatalf("%+v", h)
	}
	if _, _, err := parseResp(t, "HTTP/1.1 200 OK\r\n"+crlf("X: y|"), Limits{}); err != nil {
		t.Fatalf("incomplete: %v", err)
	}
	lim := Limits{MaxHead: 100}
	if _, _, err := parseResp(t, "HTTP/1.1 200 OK\r\nX: "+string(make([]byte, 200)), lim); statusOf(err) != 502 {
		t.Fatalf("too large: %v", err)
	}
}
