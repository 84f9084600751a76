package relay

import (
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/http/codec"
)

func clientResp(t *testing.T, reqHead, respHead string, opt ClientResponseOptions) (string, ResponsePlan, error) {
	t.Helper()
	req, _, err := codec.ParseRequestHead([]byte(crlf(reqHead)), codec.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	resp, _, err := codec.ParseResponseHead([]byte(crlf(respHead)), codec.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	opt.Request = req
	out, plan, err := AppendClientResponse(nil, resp, opt)
	return string(out), plan, err
}

func TestAppendClientResponse(t *testing.T) {
	const get11 = "GET / HTTP/1.1|Host: a||"
	tests := []struct {
		name, req, resp string
		opt             ClientResponseOptions
		want            string
		plan            ResponsePlan
	}{
		{"length", get11,
			"HTTP/1.1 200 OK|Content-Length: 005|Content-Type: text/plain|Keep-Alive: timeout=5|Connection: keep-alive||",
			ClientResponseOptions{},
			"HTTP/1.1 200 OK|Content-Type: text/plain|Content-Length: 5||",
			ResponsePlan{Body: codec.BodyLength, Length: 5}},
		{"nominated and hop-by-hop", get11,
			"HTTP/1.1 200 OK|Connection: X-Secret, close|X-Secret: s|Proxy-Connection: x|TE: y|Trailer: z|Upgrade: q|X-Kept: k|Content-Length: 0||",
			ClientResponseOptions{},
			"HTTP/1.1 200 OK|X-Kept: k|Content-Length: 0||",
			ResponsePlan{Body: codec.BodyLength}},
		{"chunked", get11,
			"HTTP/1.1 200 OK|Transfer-Encoding: Chunked||",
			ClientResponseOptions{},
			"HTTP/1.1 200 OK|Transfer-Encoding: chunked||",
			ResponsePlan{Body: codec.BodyChunked, Length: -1}},
		{"chunked for 1.0", "GET / HTTP/1.0|Connection: keep-alive||",
			"HTTP/1.1 200 OK|Transfer-Encoding: chunked||",
			ClientResponseOptions{},
			"HTTP/1.1 200 OK|Connection: close||",
			ResponsePlan{Body: codec.BodyChunked, Length: -1, Dechunk: true, Close: true}},
		{"1.0 keep-alive", "GET / HTTP/1.0|Connection: keep-alive||",
			"HTTP/1.1 200 OK|Content-Length: 2||",
			ClientResponseOptions{},
			"HTTP/1.1 200 OK|Content-Length: 2|Connection: keep-alive||",
			ResponsePlan{Body: codec.BodyLength, Length: 2}},
		{"1.0 close", "GET / HTTP/1.0||",
			"HTTP/1.1 200 OK|Content-Length: 2||",
			ClientResponseOptions{},
			"HTTP/1.1 200 OK|Content-Length: 2|Connection: close||",
			ResponsePlan{Body: codec.BodyLength, Length: 2, Close: true}},
		{"until close", get11,
			"HTTP/1.0 200 OK|Content-Type: text/plain||",
			ClientResponseOptions{},
			"HTTP/1.1 200 OK|Content-Type: text/plain|Connection: close||",
			ResponsePlan{Body: codec.BodyUntilClose, Length: -1, Close: true}},
		{"client asked to close", "GET / HTTP/1.1|Host: a|Connection: close||",
			"HTTP/1.1 200 OK|Content-Length: 2||",
			ClientResponseOptions{},
			"HTTP/1.1 200 OK|Content-Length: 2|Connection: close||",
			ResponsePlan{Body: codec.BodyLength, Length: 2, Close: true}},
		{"engine closes", get11,
			"HTTP/1.1 200 OK|Content-Length: 2||",
			ClientResponseOptions{Close: true},
			"HTTP/1.1 200 OK|Content-Length: 2|Connection: close||",
			ResponsePlan{Body: codec.BodyLength, Length: 2, Close: true}},
		{"backend closes, client stays", get11,
			"HTTP/1.1 200 OK|Content-Length: 2|Connection: close||",
			ClientResponseOptions{},
			"HTTP/1.1 200 OK|Content-Length: 2||",
			ResponsePlan{Body: codec.BodyLength, Length: 2}},
		{"head keeps length", "HEAD / HTTP/1.1|Host: a||",
			"HTTP/1.1 200 OK|Content-Length: 99||",
			ClientResponseOptions{},
			"HTTP/1.1 200 OK|Content-Length: 99||",
			ResponsePlan{Body: codec.BodyNone}},
		{"head drops chunked", "HEAD / HTTP/1.1|Host: a||",
			"HTTP/1.1 200 OK|Transfer-Encoding: chunked||",
			ClientResponseOptions{},
			"HTTP/1.1 200 OK||",
			ResponsePlan{Body: codec.BodyNone}},
		{"304 keeps length", get11,
			"HTTP/1.1 304 Not Modified|ETag: \"x\"|Content-Length: 99||",
			ClientResponseOptions{},
			"HTTP/1.1 304 Not Modified|ETag: \"x\"|Content-Length: 99||",
			ResponsePlan{Body: codec.BodyNone}},
		{"204 drops length", "DELETE /x HTTP/1.1|Host: a||",
			"HTTP/1.1 204 No Content|Content-Length: 0||",
			ClientResponseOptions{},
			"HTTP/1.1 204 No Content||",
			ResponsePlan{Body: codec.BodyNone}},
		{"100 continue", "PUT / HTTP/1.1|Host: a|Expect: 100-continue|Content-Length: 1||",
			"HTTP/1.1 100 Continue||",
			ClientResponseOptions{Close: true},
			"HTTP/1.1 100 Continue||",
			ResponsePlan{Body: codec.BodyNone, Interim: true}},
		{"103 early hints", get11,
			"HTTP/1.1 103 Early Hints|Link: </a.css>; rel=preload|Content-Length: 0||",
			ClientResponseOptions{},
			"HTTP/1.1 103 Early Hints|Link: </a.css>; rel=preload||",
			ResponsePlan{Body: codec.BodyNone, Interim: true}},
		{"1xx for 1.0", "PUT / HTTP/1.0|Content-Length: 1||",
			"HTTP/1.1 100 Continue||",
			ClientResponseOptions{},
			"",
			ResponsePlan{Body: codec.BodyNone, Interim: true, Skip: true}},
		{"101 websocket", "GET /ws HTTP/1.1|Host: a|Connection: upgrade|Upgrade: websocket|Sec-WebSocket-Key: k||",
			"HTTP/1.1 101 Switching Protocols|Upgrade: WebSocket|Connection: Upgrade|Sec-WebSocket-Accept: x||",
			ClientResponseOptions{},
			"HTTP/1.1 101 Switching Protocols|Sec-WebSocket-Accept: x|Connection: upgrade|Upgrade: websocket||",
			ResponsePlan{Body: codec.BodyNone, Tunnel: true}},
		{"connect", "CONNECT a:443 HTTP/1.1|Host: a:443||",
			"HTTP/1.1 200 OK|Content-Length: 0||",
			ClientResponseOptions{},
			"HTTP/1.1 200 OK||",
			ResponsePlan{Body: codec.BodyNone, Tunnel: true}},
		{"via", get11,
			"HTTP/1.1 200 OK|Via: 1.0 fred|Content-Length: 0||",
			ClientResponseOptions{Via: "switchyard"},
			"HTTP/1.1 200 OK|Content-Length: 0|Via: 1.0 fred, 1.1 switchyard||",
			ResponsePlan{Body: codec.BodyLength}},
		{"empty reason", get11,
			"HTTP/1.1 200|Content-Length: 0||",
			ClientResponseOptions{},
			"HTTP/1.1 200 |Content-Length: 0||",
			ResponsePlan{Body: codec.BodyLength}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, plan, err := clientResp(t, tt.req, tt.resp, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if want := crlf(tt.want); out != want {
				t.Fatalf("got  %q\nwant %q", out, want)
			}
			if plan != tt.plan {
				t.Fatalf("plan %+v, want %+v", plan, tt.plan)
			}
		})
	}
}

func TestUnsolicited101(t *testing.T) {
	for _, tt := range []struct{ req, resp string }{
		{"GET / HTTP/1.1|Host: a||", "HTTP/1.1 101 Switching Protocols|Connection: upgrade|Upgrade: websocket||"},
		{"GET / HTTP/1.1|Host: a|Connection: upgrade|Upgrade: websocket||", "HTTP/1.1 101 Switching Protocols|Connection: upgrade|Upgrade: h2c||"},
		{"GET / HTTP/1.1|Host: a|Connection: upgrade|Upgrade: websocket||", "HTTP/1.1 101 Switching Protocols|Upgrade: websocket||"},
	} {
		if _, _, err := clientResp(t, tt.req, tt.resp, ClientResponseOptions{}); statusOf(err) != 502 {
			t.Errorf("%q: %v", tt.resp, err)
		}
	}
}
