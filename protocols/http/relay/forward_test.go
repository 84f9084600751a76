package relay

import (
	"net/netip"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/http/codec"
)

var client4 = netip.MustParseAddrPort("192.0.2.7:4711")

func forward(t *testing.T, head string, opt ForwardOptions) string {
	t.Helper()
	h, _, err := codec.ParseRequestHead([]byte(crlf(head)), codec.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return string(AppendForward(nil, h, opt))
}

func TestAppendForward(t *testing.T) {
	const fwd = "Forwarded: for=\"192.0.2.7:4711\";proto=https;host=a.example|X-Forwarded-For: 192.0.2.7|X-Forwarded-Proto: https|"
	tls := ForwardOptions{Client: client4, TLS: true}
	tests := []struct {
		name, head string
		opt        ForwardOptions
		want       string
	}{
		{"plain", "GET /x?y HTTP/1.1|Host: a.example|Accept: */*||", tls,
			"GET /x?y HTTP/1.1|Host: a.example|Accept: */*|" + fwd + "|"},
		{"host first", "POST /jmap HTTP/1.1|User-Agent: ua|Host: a.example|Content-Length: 0012||", tls,
			"POST /jmap HTTP/1.1|Host: a.example|User-Agent: ua|Content-Length: 12|" + fwd + "|"},
		{"chunked", "POST / HTTP/1.1|Host: a.example|Transfer-Encoding: ,Chunked||", tls,
			"POST / HTTP/1.1|Host: a.example|Transfer-Encoding: chunked|" + fwd + "|"},
		{"hop-by-hop", "GET / HTTP/1.1|Host: a.example|Connection: keep-alive, X-Hop, close|X-Hop: 1|Keep-Alive: 300|" +
			"Proxy-Connection: keep-alive|TE: trailers|Trailer: X-T|Upgrade: h2c|Proxy-Authorization: Basic x|X-End: 1||", tls,
			"GET / HTTP/1.1|Host: a.example|X-End: 1|" + fwd + "|"},
		{"connection cannot drop what the proxy writes", "POST / HTTP/1.1|Host: a.example|Connection: host, content-length, forwarded|Content-Length: 1||", tls,
			"POST / HTTP/1.1|Host: a.example|Content-Length: 1|" + fwd + "|"},
		{"absolute-form", "GET http://a.example/p?q HTTP/1.1|Host: evil.example||", tls,
			"GET /p?q HTTP/1.1|Host: a.example|" + fwd + "|"},
		{"absolute-form, empty path", "GET http://a.example?q HTTP/1.1|Host: a.example||", tls,
			"GET /?q HTTP/1.1|Host: a.example|" + fwd + "|"},
		{"absolute-form, empty query", "GET http://a.example/p? HTTP/1.1|Host: a.example||", tls,
			"GET /p? HTTP/1.1|Host: a.example|" + fwd + "|"},
		{"http/1.0", "GET / HTTP/1.0|Host: a.example|Expect: 100-continue||", tls,
			"GET / HTTP/1.1|Host: a.example|" + fwd + "|"},
		{"http/1.0 without host", "GET / HTTP/1.0||", ForwardOptions{Client: client4},
			"GET / HTTP/1.1|Host: |Forwarded: for=\"192.0.2.7:4711\";proto=http|X-Forwarded-For: 192.0.2.7|X-Forwarded-Proto: http||"},
		{"expect kept", "PUT / HTTP/1.1|Host: a.example|Expect: 100-continue|Content-Length: 3||", tls,
			"PUT / HTTP/1.1|Host: a.example|Expect: 100-continue|Content-Length: 3|" + fwd + "|"},
		{"websocket", "GET /ws HTTP/1.1|Host: a.example|Connection: Upgrade|Upgrade: websocket, h2c|Sec-WebSocket-Key: k||", tls,
			"GET /ws HTTP/1.1|Host: a.example|Sec-WebSocket-Key: k|Connection: upgrade|Upgrade: websocket|" + fwd + "|"},
		{"close", "GET / HTTP/1.1|Host: a.example||", ForwardOptions{Client: client4, TLS: true, Close: true},
			"GET / HTTP/1.1|Host: a.example|Connection: close|" + fwd + "|"},
		{"untrusted forwarded fields", "GET / HTTP/1.1|Host: a.example|Forwarded: for=1.2.3.4|X-Forwarded-For: 1.2.3.4|" +
			"X-Forwarded-Proto: http|X-Forwarded-Host: evil|X-Real-Ip: 9.9.9.9||", tls,
			"GET / HTTP/1.1|Host: a.example|X-Real-Ip: 9.9.9.9|" + fwd + "|"},
		{"trusted forwarded fields", "GET / HTTP/1.1|Host: a.example|Forwarded: for=198.51.100.1|X-Forwarded-For: 198.51.100.1, 10.0.0.1|" +
			"X-Forwarded-Proto: https|X-Forwarded-Host: www.example|forwarded: for=10.0.0.1||",
			ForwardOptions{Client: client4, TrustForwarded: true},
			"GET / HTTP/1.1|Host: a.example|X-Forwarded-Proto: https|X-Forwarded-Host: www.example|" +
				"Forwarded: for=198.51.100.1, for=10.0.0.1, for=\"192.0.2.7:4711\";proto=http;host=a.example|" +
				"X-Forwarded-For: 198.51.100.1, 10.0.0.1, 192.0.2.7||"},
		{"trusted but nominated", "GET / HTTP/1.1|Host: a.example|Connection: X-Forwarded-Proto, Forwarded|X-Forwarded-Proto: https|" +
			"Forwarded: for=198.51.100.1|X-Forwarded-For:||",
			ForwardOptions{Client: client4, TrustForwarded: true},
			"GET / HTTP/1.1|Host: a.example|Forwarded: for=\"192.0.2.7:4711\";proto=http;host=a.example|" +
				"X-Forwarded-For: 192.0.2.7|X-Forwarded-Proto: http||"},
		{"ipv6", "GET / HTTP/1.1|Host: [2001:db8::2]:8443||", ForwardOptions{Client: netip.MustParseAddrPort("[2001:db8::1]:4711"), TLS: true},
			"GET / HTTP/1.1|Host: [2001:db8::2]:8443|Forwarded: for=\"[2001:db8::1]:4711\";proto=https;host=\"[2001:db8::2]:8443\"|" +
				"X-Forwarded-For: 2001:db8::1|X-Forwarded-Proto: https||"},
		{"ipv6 no port", "GET / HTTP/1.1|Host: a||", ForwardOptions{Client: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), 0)},
			"GET / HTTP/1.1|Host: a|Forwarded: for=\"[2001:db8::1]\";proto=http;host=a|X-Forwarded-For: 2001:db8::1|X-Forwarded-Proto: http||"},
		{"ipv4 no port", "GET / HTTP/1.1|Host: a||", ForwardOptions{Client: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.7"), 0)},
			"GET / HTTP/1.1|Host: a|Forwarded: for=192.0.2.7;proto=http;host=a|X-Forwarded-For: 192.0.2.7|X-Forwarded-Proto: http||"},
		{"ipv4-mapped", "GET / HTTP/1.1|Host: a||", ForwardOptions{Client: netip.MustParseAddrPort("[::ffff:192.0.2.7]:1")},
			"GET / HTTP/1.1|Host: a|Forwarded: for=\"192.0.2.7:1\";proto=http;host=a|X-Forwarded-For: 192.0.2.7|X-Forwarded-Proto: http||"},
		{"unknown client", "GET / HTTP/1.1|Host: a:80||", ForwardOptions{},
			"GET / HTTP/1.1|Host: a:80|Forwarded: for=unknown;proto=http;host=\"a:80\"|X-Forwarded-For: unknown|X-Forwarded-Proto: http||"},
		{"via", "GET / HTTP/1.1|Host: a|Via: 1.0 fred, 1.1 p.example||", ForwardOptions{Via: "switchyard"},
			"GET / HTTP/1.1|Host: a|Forwarded: for=unknown;proto=http;host=a|X-Forwarded-For: unknown|X-Forwarded-Proto: http|" +
				"Via: 1.0 fred, 1.1 p.example, 1.1 switchyard||"},
		{"via off keeps inbound", "GET / HTTP/1.1|Host: a|Via: 1.0 fred||", ForwardOptions{},
			"GET / HTTP/1.1|Host: a|Via: 1.0 fred|Forwarded: for=unknown;proto=http;host=a|X-Forwarded-For: unknown|X-Forwarded-Proto: http||"},
		{"options asterisk", "OPTIONS * HTTP/1.1|Host: a||", ForwardOptions{},
			"OPTIONS * HTTP/1.1|Host: a|Forwarded: for=unknown;proto=http;host=a|X-Forwarded-For: unknown|X-Forwarded-Proto: http||"},
		{"no forwarded fields", "GET / HTTP/1.1|Host: a|Forwarded: for=1.2.3.4|X-Forwarded-For: 1.2.3.4|X-Forwarded-Proto: http|X-A: 1||",
			ForwardOptions{Client: client4, NoForwarded: true},
			"GET / HTTP/1.1|Host: a|X-A: 1||"},
		{"no forwarded fields, trusted ones kept as they are", "GET / HTTP/1.1|Host: a|Forwarded: for=1.2.3.4|X-Forwarded-For: 1.2.3.4|X-Forwarded-Proto: https||",
			ForwardOptions{Client: client4, NoForwarded: true, TrustForwarded: true, Via: "sy"},
			"GET / HTTP/1.1|Host: a|Forwarded: for=1.2.3.4|X-Forwarded-For: 1.2.3.4|X-Forwarded-Proto: https|Via: 1.1 sy||"},
		{"expect dropped", "PUT / HTTP/1.1|Host: a|Expect: 100-continue|Content-Length: 3||", ForwardOptions{NoForwarded: true, DropExpect: true},
			"PUT / HTTP/1.1|Host: a|Content-Length: 3||"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := forward(t, tt.head, tt.opt)
			if want := crlf(tt.want); got != want {
				t.Fatalf("got  %q\nwant %q", got, want)
			}
			// What is forwarded parses, to the same request.
			if _, n, err := codec.ParseRequestHead([]byte(got), codec.Limits{}); err != nil || n != len(got) {
				t.Fatalf("forwarded head does not parse: %v", err)
			}
		})
	}
}
