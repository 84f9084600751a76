package codec

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/limits"
)

func TestRequestLine(t *testing.T) {
	long := "/" + strings.Repeat("a", limits.MaxTarget-1)
	tests := []struct {
		name, line string
		status     int
		check      func(*RequestHead) string
	}{
		{"origin", "GET /a/b?c=d&e HTTP/1.1", 0, func(h *RequestHead) string {
			return fmt.Sprint(h.Method, h.Target, h.Form, h.Path, h.Query, h.Version)
		}},
		{"http10", "GET / HTTP/1.0", 0, nil},
		{"empty query", "GET /a? HTTP/1.1", 0, nil},
		{"target at the limit", "GET " + long + " HTTP/1.1", 0, nil},
		{"target over the limit", "GET " + long + "a HTTP/1.1", 414, nil},
		{"request line over the limit", "GET " + long + strings.Repeat("a", 100) + " HTTP/1.1", 414, nil},
		{"webdav method", "PROPFIND /dav/ HTTP/1.1", 0, nil},
		{"method too long", strings.Repeat("M", 33) + " / HTTP/1.1", 501, nil},
		{"method not a token", "G@T / HTTP/1.1", 400, nil},
		{"lowercase method is a token", "get / HTTP/1.1", 0, nil},
		{"two spaces after method", "GET  / HTTP/1.1", 400, nil},
		{"two spaces before version", "GET /  HTTP/1.1", 400, nil},
		{"tab separator", "GET\t/ HTTP/1.1", 400, nil},
		{"trailing space", "GET / HTTP/1.1 ", 400, nil},
		{"http/0.9", "GET /", 400, nil},
		{"no version", "GET / ", 400, nil},
		{"space in target", "GET /a b HTTP/1.1", 400, nil},
		{"http/2", "GET / HTTP/2.0", 505, nil},
		{"http/1.2", "GET / HTTP/1.2", 505, nil},
		{"http/0.9 version", "GET / HTTP/0.9", 505, nil},
		{"lowercase http", "GET / http/1.1", 400, nil},
		{"version 1.10", "GET / HTTP/1.10", 400, nil},
		{"version 1", "GET / HTTP/1", 400, nil},
		{"fragment", "GET /a#b HTTP/1.1", 400, nil},
		{"bad escape", "GET /a%zz HTTP/1.1", 400, nil},
		{"short escape", "GET /a%2 HTTP/1.1", 400, nil},
		{"good escape", "GET /a%2F%c3%a9 HTTP/1.1", 0, nil},
		{"DEL", "GET /a\x7f HTTP/1.1", 400, nil},
		{"raw utf-8", "GET /\xc3\xa9 HTTP/1.1", 400, nil},
		{"raw punctuation", "GET /a|b?c={d}&e=[f] HTTP/1.1", 0, nil},
		{"relative", "GET a/b HTTP/1.1", 400, nil},
		{"asterisk", "OPTIONS * HTTP/1.1", 0, func(h *RequestHead) string { return fmt.Sprint(h.Form, h.Path) }},
		{"asterisk not options", "GET * HTTP/1.1", 400, nil},
		{"options origin", "OPTIONS /x HTTP/1.1", 0, nil},
		{"connect", "CONNECT mail.example.com:443 HTTP/1.1", 0, func(h *RequestHead) string { return fmt.Sprint(h.Form, h.Host) }},
		{"connect ipv6", "CONNECT [2001:db8::1]:443 HTTP/1.1", 0, nil},
		{"connect no port", "CONNECT mail.example.com HTTP/1.1", 400, nil},
		{"connect origin", "CONNECT / HTTP/1.1", 400, nil},
		{"connect absolute", "CONNECT http://a/ HTTP/1.1", 400, nil},
		{"authority not connect", "GET mail.example.com:443 HTTP/1.1", 400, nil},
		{"absolute", "GET http://other.example:8080/p?q HTTP/1.1", 0, func(h *RequestHead) string {
			return fmt.Sprint(h.Form, " ", h.Host, " ", h.HostField, " ", h.Path, " ", h.Query)
		}},
		{"absolute no path", "GET HTTPS://Other.Example HTTP/1.1", 0, func(h *RequestHead) string { return h.Host + " " + h.Path }},
		{"absolute query only", "GET http://o?x HTTP/1.1", 0, func(h *RequestHead) string { return h.Path + " " + h.Query }},
		{"absolute ipv6", "GET http://[::1]:8080/ HTTP/1.1", 0, nil},
		{"absolute ftp", "GET ftp://o/ HTTP/1.1", 400, nil},
		{"absolute userinfo", "GET http://u:p@o/ HTTP/1.1", 400, nil},
		{"absolute empty host", "GET http:///a HTTP/1.1", 400, nil},
		{"absolute bad port", "GET http://o:99999/ HTTP/1.1", 400, nil},
		{"absolute fragment", "GET http://o/#x HTTP/1.1", 400, nil},
		{"absolute ipv6 zone", "GET http://[fe80::1%25eth0]/ HTTP/1.1", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.line + "\r\nHost: mail.example.com\r\n\r\n"
			h, n, _ := parseStatus(t, in, Limits{}, tt.status)
			if tt.status != 0 {
				return
			}
			if n != len(in) {
				t.Fatalf("n = %d, want %d", n, len(in))
			}
			if tt.check != nil {
				t.Log(tt.check(h))
			}
		})
	}
}

func TestRequestTargetSplit(t *testing.T) {
	for _, tt := range []struct{ line, form, host, path, query string }{
		{"GET /a/b?c=d&e HTTP/1.1", "0", "mail.example.com", "/a/b", "c=d&e"},
		{"GET /a? HTTP/1.1", "0", "mail.example.com", "/a", ""},
		{"GET http://other.example:8080/p?q HTTP/1.1", "1", "other.example:8080", "/p", "q"},
		{"GET HTTPS://Other.Example HTTP/1.1", "1", "Other.Example", "/", ""},
		{"GET http://o?x HTTP/1.1", "1", "o", "/", "x"},
		{"CONNECT a.example:443 HTTP/1.1", "2", "a.example:443", "", ""},
		{"OPTIONS * HTTP/1.1", "3", "mail.example.com", "", ""},
	} {
		h, _, err := parseReq(t, tt.line+"\r\nHost: mail.example.com\r\n\r\n", Limits{})
		if err != nil {
			t.Fatalf("%s: %v", tt.line, err)
		}
		got := fmt.Sprint(int(h.Form), "|", h.Host, "|", h.Path, "|", h.Query)
		if want := tt.form + "|" + tt.host + "|" + tt.path + "|" + tt.query; got != want {
			t.Errorf("%s: got %s, want %s", tt.line, got, want)
		}
		if h.HostField != "mail.example.com" {
			t.Errorf("%s: HostField %q", tt.line, h.HostField)
		}
	}
}

func TestFieldLines(t *testing.T) {
	tests := []struct {
		name, fields string // "|" is CRLF
		status       int
	}{
		{"plain", "X-A: b|", 0},
		{"empty value", "X-A:|", 0},
		{"obs-text", "X-A: caf\xc3\xa9|", 0},
		{"obs-fold", "X-A: b|  c|", 400},
		{"obs-fold tab", "X-A: b|\tc|", 400},
		{"whitespace before first field", " X-A: b|", 400},
		{"space before colon", "X-A : b|", 400},
		{"tab before colon", "X-A\t: b|", 400},
		{"space in name", "X A: b|", 400},
		{"empty name", ": b|", 400},
		{"no colon", "X-A b|", 400},
		{"non-token name", "X@A: b|", 400},
		{"utf-8 name", "X-\xc3\xa9: b|", 400},
		{"NUL in value", "X-A: b\x00c|", 400},
		{"NUL in name", "X-A\x00: b|", 400},
		{"bare CR in value", "X-A: b\rc|", 400},
		{"bare CR at end of value", "X-A: b\r|", 400},
		{"bare CR in name", "X\rA: b|", 400},
		{"VT in value", "X-A: b\x0bc|", 400},
		{"DEL in value", "X-A: b\x7fc|", 400},
		{"ESC in value", "X-A: \x1b[1m|", 400},
		{"Content_Length", "Content_Length: 5|", 400},
		{"transfer_encoding", "transfer_encoding: chunked|", 400},
		{"other underscore", "X_Custom: 1|", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "GET / HTTP/1.1\r\nHost: a\r\n" + crlf(tt.fields) + "\r\n"
			if tt.name == "whitespace before first field" {
				in = "GET / HTTP/1.1\r\n" + crlf(tt.fields) + "Host: a\r\n\r\n"
			}
			parseStatus(t, in, Limits{}, tt.status)
		})
	}
}

func TestLineEnds(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.1\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		if _, _, err := parseReq(t, in, Limits{}); statusOf(err) != 400 {
			t.Errorf("%q: %v, want 400", in, err)
		}
	}
}

func TestFieldsKept(t *testing.T) {
	in := crlf("\r\n\r\nPOST /jmap HTTP/1.1|HOST: Mail.Example.com|X-Empty:|X-Ows: \t v 1 \t|x-multi: a|X-Multi: b||rest")
	h, n, err := parseReq(t, in, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if in[n:] != "rest" {
		t.Fatalf("n = %d leaves %q", n, in[n:])
	}
	var got []string
	for _, f := range h.Fields {
		got = append(got, f.Name+"/"+f.Key+"="+f.Value)
	}
	want := "[HOST/host=Mail.Example.com X-Empty/x-empty= X-Ows/x-ows=v 1 x-multi/x-multi=a X-Multi/x-multi=b]"
	if fmt.Sprint(got) != want {
		t.Fatalf("fields %v\nwant %s", got, want)
	}
	if h.Host != "Mail.Example.com" || h.Get("x-ows") != "v 1" || h.Get("X-MULTI") != "a" || h.Get("nope") != "" {
		t.Fatalf("Host %q Get %q %q", h.Host, h.Get("x-ows"), h.Get("X-MULTI"))
	}
	if v := h.Values("X-Multi"); fmt.Sprint(v) != "[a b]" {
		t.Fatalf("Values %v", v)
	}
	if h.ContentLength != -1 || h.Chunked {
		t.Fatalf("framing %d %v", h.ContentLength, h.Chunked)
	}
	if k, l := h.Body(); k != BodyNone || l != 0 {
		t.Fatalf("Body %v %d", k, l)
	}
}

// The head must outlive the engine's buffer.
func TestHeadIsCopied(t *testing.T) {
	buf := []byte("GET /x?y HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n")
	h, _, err := ParseRequestHead(buf, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = '#'
	}
	if h.Method != "GET" || h.Target != "/x?y" || h.Host != "a" || h.Fields[1].Value != "b" || h.Fields[1].Key != "x-a" {
		t.Fatalf("head changed with the buffer: %+v", h)
	}
}

func TestHost(t *testing.T) {
	tests := []struct {
		name, head string
		status     int
		host       string
	}{
		{"ok", "GET / HTTP/1.1|Host: a.example||", 0, "a.example"},
		{"port", "GET / HTTP/1.1|Host: a.example:8443||", 0, "a.example:8443"},
		{"ipv4", "GET / HTTP/1.1|Host: 192.0.2.1:80||", 0, "192.0.2.1:80"},
		{"ipv6", "GET / HTTP/1.1|Host: [2001:db8::1]:80||", 0, "[2001:db8::1]:80"},
		{"empty", "GET / HTTP/1.1|Host:||", 0, ""},
		{"missing 1.1", "GET / HTTP/1.1|X: y||", 400, ""},
		{"missing 1.0", "GET / HTTP/1.0|X: y||", 0, ""},
		{"duplicate", "GET / HTTP/1.1|Host: a|Host: a||", 400, ""},
		{"duplicate 1.0", "GET / HTTP/1.0|Host: a|host: b||", 400, ""},
		{"space", "GET / HTTP/1.1|Host: a b||", 400, ""},
		{"comma", "GET / HTTP/1.1|Host: a,b||", 400, ""},
		{"userinfo", "GET / HTTP/1.1|Host: u@a||", 400, ""},
		{"percent", "GET / HTTP/1.1|Host: a%41||", 400, ""},
		{"slash", "GET / HTTP/1.1|Host: a/b||", 400, ""},
		{"port only", "GET / HTTP/1.1|Host: :80||", 400, ""},
		{"empty port", "GET / HTTP/1.1|Host: a:||", 400, ""},
		{"port too big", "GET / HTTP/1.1|Host: a:65536||", 400, ""},
		{"port letters", "GET / HTTP/1.1|Host: a:8o||", 400, ""},
		{"two ports", "GET / HTTP/1.1|Host: a:1:2||", 400, ""},
		{"ipv6 unbracketed", "GET / HTTP/1.1|Host: ::1||", 400, ""},
		{"ipv6 zone", "GET / HTTP/1.1|Host: [fe80::1%25eth0]||", 400, ""},
		{"ipv4 in brackets", "GET / HTTP/1.1|Host: [192.0.2.1]||", 400, ""},
		{"absolute wins", "GET http://b.example/ HTTP/1.1|Host: a.example||", 0, "b.example"},
		{"absolute still needs Host", "GET http://b.example/ HTTP/1.1|X: y||", 400, ""},
		{"absolute, bad Host", "GET http://b.example/ HTTP/1.1|Host: a b||", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _, err := parseStatus(t, crlf(tt.head), Limits{}, tt.status)
			if err == nil && h.Host != tt.host {
				t.Fatalf("Host %q, want %q", h.Host, tt.host)
			}
		})
	}
}

func TestContentLength(t *testing.T) {
	tests := []struct {
		fields string
		status int
		cl     int64
	}{
		{"Content-Length: 5|", 0, 5},
		{"Content-Length: 0|", 0, 0},
		{"Content-Length:   5  |", 0, 5},
		{"Content-Length: 005|", 0, 5},
		{"Content-Length: 5|content-length: 5|", 0, 5},
		{"Content-Length: 999999999999999999|", 0, 999999999999999999},
		{"Content-Length: 9999999999999999999|", 400, 0},
		{"Content-Length: 18446744073709551616|", 400, 0},
		{"Content-Length: 5|Content-Length: 6|", 400, 0},
		{"Content-Length: 5|Content-Length: 05|", 400, 0},
		{"Content-Length: +5|", 400, 0},
		{"Content-Length: -5|", 400, 0},
		{"Content-Length: 5 5|", 400, 0},
		{"Content-Length: 5,5|", 400, 0},
		{"Content-Length: 5, 5|", 400, 0},
		{"Content-Length: 0x5|", 400, 0},
		{"Content-Length: 5.0|", 400, 0},
		{"Content-Length: 1e3|", 400, 0},
		{"Content-Length:|", 400, 0},
		{"Content-Length: five|", 400, 0},
		{"Content-Length: \xd9\xa5|", 400, 0}, // Arabic-Indic digit five
	}
	for _, tt := range tests {
		h, _, err := parseReq(t, "POST / HTTP/1.1\r\nHost: a\r\n"+crlf(tt.fields)+"\r\n", Limits{})
		if got := statusOf(err); got != tt.status {
			t.Errorf("%q: status %d (%v), want %d", tt.fields, got, err, tt.status)
			continue
		}
		if err == nil {
			if k, n := h.Body(); h.ContentLength != tt.cl || k != BodyLength || n != tt.cl {
				t.Errorf("%q: ContentLength %d, Body %v %d", tt.fields, h.ContentLength, k, n)
			}
		}
	}
}

func TestTransferEncoding(t *testing.T) {
	tests := []struct {
		version, fields string
		status          int
	}{
		{"1.1", "Transfer-Encoding: chunked|", 0},
		{"1.1", "Transfer-Encoding: Chunked|", 0},
		{"1.1", "Transfer-Encoding: CHUNKED|", 0},
		{"1.1", "Transfer-Encoding:\tchunked\t|", 0},
		{"1.1", "Transfer-Encoding: chunked,|", 0},
		{"1.1", "Transfer-Encoding: , chunked|", 0},
		{"1.0", "Transfer-Encoding: chunked|", 400},
		{"1.0", "Transfer-Encoding: gzip|", 400},
		{"1.1", "Transfer-Encoding: chunked|Content-Length: 5|", 400},
		{"1.1", "Content-Length: 5|Transfer-Encoding: chunked|", 400},
		{"1.1", "Content-Length: 0|Transfer-Encoding: chunked|", 400},
		{"1.1", "Transfer-Encoding: xchunked|", 400},
		{"1.1", "Transfer-Encoding: chunk|", 400},
		{"1.1", "Transfer-Encoding: identity|", 400},
		{"1.1", "Transfer-Encoding: gzip|", 400},
		{"1.1", "Transfer-Encoding: chunked, identity|", 400},
		{"1.1", "Transfer-Encoding: chunked, gzip|", 400},
		{"1.1", "Transfer-Encoding: chunked|Transfer-Encoding: x|", 400},
		{"1.1", "Transfer-Encoding: chunked, chunked|", 400},
		{"1.1", "Transfer-Encoding: chunked|Transfer-Encoding: chunked|", 400},
		{"1.1", "Transfer-Encoding: chunked;q=1|", 400},
		{"1.1", "Transfer-Encoding: \"chunked\"|", 400},
		{"1.1", "Transfer-Encoding: chunked chunked|", 400},
		{"1.1", "Transfer-Encoding:|", 400},
		{"1.1", "Transfer-Encoding: , ,|", 400},
		{"1.1", "Transfer-Encoding: gzip, chunked|", 501},
		{"1.1", "Transfer-Encoding: identity, chunked|", 501},
		{"1.1", "Transfer-Encoding: foo|Transfer-Encoding: chunked|", 501},
		{"1.1", "Transfer-Encoding : chunked|", 400},
		{"1.1", "Transfer-Encoding: chunked\x0b|", 400},
		{"1.1", "Transfer-Encoding: \x00chunked|", 400},
	}
	for _, tt := range tests {
		in := "POST / HTTP/" + tt.version + "\r\nHost: a\r\n" + crlf(tt.fields) + "\r\n"
		h, _, err := parseReq(t, in, Limits{})
		if got := statusOf(err); got != tt.status {
			t.Errorf("%s %q: status %d (%v), want %d", tt.version, tt.fields, got, err, tt.status)
			continue
		}
		if err == nil {
			if k, _ := h.Body(); !h.Chunked || h.ContentLength != -1 || k != BodyChunked {
				t.Errorf("%q: Chunked %v CL %d", tt.fields, h.Chunked, h.ContentLength)
			}
		}
	}
}

func TestConnectionUpgradeExpect(t *testing.T) {
	type flags struct{ close, keepAlive, upgrade, ws, expect, persistent bool }
	tests := []struct {
		name, head string
		status     int
		want       flags
	}{
		{"1.1 default", "GET / HTTP/1.1|Host: a||", 0, flags{persistent: true}},
		{"1.1 close", "GET / HTTP/1.1|Host: a|Connection: Close||", 0, flags{close: true}},
		{"1.0 default", "GET / HTTP/1.0||", 0, flags{}},
		{"1.0 keep-alive", "GET / HTTP/1.0|Connection: Keep-Alive||", 0, flags{keepAlive: true, persistent: true}},
		{"1.0 keep-alive and close", "GET / HTTP/1.0|Connection: keep-alive, close||", 0, flags{keepAlive: true, close: true}},
		{"websocket", "GET /ws HTTP/1.1|Host: a|Connection: keep-alive, Upgrade|Upgrade: websocket||", 0,
			flags{keepAlive: true, upgrade: true, ws: true, persistent: true}},
		{"websocket in a list", "GET /ws HTTP/1.1|Host: a|Connection: upgrade|Upgrade: h2c, WebSocket||", 0,
			flags{upgrade: true, ws: true, persistent: true}},
		{"websocket with empty body", "GET /ws HTTP/1.1|Host: a|Connection: upgrade|Upgrade: websocket|Content-Length: 0||", 0,
			flags{upgrade: true, ws: true, persistent: true}},
		{"upgrade without connection", "GET /ws HTTP/1.1|Host: a|Upgrade: websocket||", 0, flags{persistent: true}},
		{"upgrade h2c", "GET / HTTP/1.1|Host: a|Connection: upgrade|Upgrade: h2c||", 0, flags{upgrade: true, persistent: true}},
		{"upgrade on POST", "POST /ws HTTP/1.1|Host: a|Connection: upgrade|Upgrade: websocket||", 0, flags{upgrade: true, persistent: true}},
		{"upgrade in 1.0", "GET /ws HTTP/1.0|Connection: upgrade|Upgrade: websocket||", 0, flags{upgrade: true}},
		{"websocket with body", "GET /ws HTTP/1.1|Host: a|Connection: upgrade|Upgrade: websocket|Content-Length: 3||", 400, flags{}},
		{"websocket chunked", "GET /ws HTTP/1.1|Host: a|Connection: upgrade|Upgrade: websocket|Transfer-Encoding: chunked||", 400, flags{}},
		{"bad connection", "GET / HTTP/1.1|Host: a|Connection: a b||", 400, flags{}},
		{"connection options", "GET / HTTP/1.1|Host: a|Connection: " + strings.Repeat("x,", 32) + "||", 0, flags{persistent: true}},
		{"too many connection options", "GET / HTTP/1.1|Host: a|Connection: " + strings.Repeat("x,", 33) + "||", 400, flags{}},
		{"expect", "PUT / HTTP/1.1|Host: a|Expect: 100-Continue|Content-Length: 1||", 0, flags{expect: true, persistent: true}},
		{"expect unknown", "PUT / HTTP/1.1|Host: a|Expect: 100-continue, x||", 417, flags{}},
		{"expect 1.0 ignored", "PUT / HTTP/1.0|Expect: 100-continue||", 0, flags{}},
		{"expect unknown 1.0 ignored", "PUT / HTTP/1.0|Expect: x||", 0, flags{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _, err := parseStatus(t, crlf(tt.head), Limits{}, tt.status)
			if err != nil {
				return
			}
			got := flags{h.ConnClose, h.ConnKeepAlive, h.ConnUpgrade, h.WebSocket, h.Expect100, h.Persistent()}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAuthorizationAndConnect(t *testing.T) {
	h, _, err := parseReq(t, crlf("POST / HTTP/1.1|Host: a|Authorization: Bearer abc.def||"), Limits{})
	if err != nil || h.Authorization != "Bearer abc.def" {
		t.Fatalf("%v %q", err, h.Authorization)
	}
	if _, _, err := parseReq(t, crlf("POST / HTTP/1.1|Host: a|Authorization: Basic a|authorization: Basic b||"), Limits{}); statusOf(err) != 400 {
		t.Fatalf("duplicate Authorization: %v", err)
	}
	if _, _, err := parseReq(t, crlf("CONNECT a:443 HTTP/1.1|Host: a:443|Content-Length: 2||"), Limits{}); statusOf(err) != 400 {
		t.Fatalf("CONNECT with content: %v", err)
	}
	if _, _, err := parseReq(t, crlf("CONNECT a:443 HTTP/1.1|Host: a:443|Content-Length: 0||"), Limits{}); err != nil {
		t.Fatalf("CONNECT with Content-Length: 0: %v", err)
	}
}

func TestLimits(t *testing.T) {
	lim := Limits{MaxHead: 200, MaxFields: 3, MaxFieldLine: 40, MaxTarget: 20}
	field := func(n int) string { return "X: " + strings.Repeat("v", n-3) + "\r\n" }
	tests := []struct {
		name, in string
		status   int
	}{
		{"fits", "GET / HTTP/1.1\r\nHost: a\r\n" + field(40) + "X: 1\r\n\r\n", 0},
		{"field line too long", "GET / HTTP/1.1\r\nHost: a\r\n" + field(41) + "\r\n", 431},
		{"field line too long, incomplete", "GET / HTTP/1.1\r\nHost: a\r\n" + field(42)[:43], 431},
		{"field line at the limit, incomplete", "GET / HTTP/1.1\r\nHost: a\r\n" + field(40)[:41], 0},
		{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nX: 2\r\nX: 3\r\n\r\n", 431},
		{"head too large", "GET / HTTP/1.1\r\nHost: a\r\n" + field(40) + field(40) + field(40) + strings.Repeat("\r\n", 40), 431},
		{"head too large, incomplete", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("x", 200), 431},
		{"empty lines count", strings.Repeat("\r\n", 100) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 431},
		{"target at limit", "GET /" + strings.Repeat("t", 19) + " HTTP/1.1\r\nHost: a\r\n\r\n", 0},
		{"target over limit", "GET /" + strings.Repeat("t", 20) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"request line over limit, incomplete", "GET /" + strings.Repeat("t", 80), 414},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parseStatus(t, tt.in, lim, tt.status)
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: a\r\n"
	for range 99 {
		head += "X: y\r\n"
	}
	if _, _, err := parseReq(t, head+"\r\n", Limits{}); err != nil {
		t.Fatalf("100 fields: %v", err)
	}
	if _, _, err := parseReq(t, head+"X: y\r\n\r\n", Limits{}); statusOf(err) != 431 {
		t.Fatalf("101 fields: %v", err)
	}
	big := "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("v", limits.MaxFieldLine-3) + "\r\n\r\n"
	if _, _, err := ParseRequestHead([]byte(big), Limits{}); err != nil {
		t.Fatalf("8 KiB field: %v", err)
	}
	big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("v", limits.MaxFieldLine-2) + "\r\n\r\n"
	if _, _, err := ParseRequestHead([]byte(big), Limits{}); statusOf(err) != 431 {
		t.Fatalf("8 KiB + 1 field: %v", err)
	}
	huge := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: "+strings.Repeat("v", 8000)+"\r\n", 9) + "\r\n"
	if _, _, err := ParseRequestHead([]byte(huge), Limits{}); statusOf(err) != 431 {
		t.Fatalf("72 KB head: %v", err)
	}
}

func TestNeedMore(t *testing.T) {
	full := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
	for i := 0; i < strings.Index(full, "abc"); i++ {
		h, n, err := ParseRequestHead([]byte(full[:i]), Limits{})
		if h != nil || n != 0 || err != nil {
			t.Fatalf("prefix %d: %v %d %v", i, h, n, err)
		}
	}
	// An engine that hands back fewer bytes than before (it should not)
	// gets a fresh scan, not a stale offset.
	var p RequestParser
	p.Parse([]byte(full[:30]))
	if h, n, err := p.Parse([]byte(full[:10])); h != nil || n != 0 || err != nil {
		t.Fatalf("shorter buffer: %v %d %v", h, n, err)
	}
	if h, n, err := p.Parse([]byte(full)); h == nil || n != len(full)-3 || err != nil {
		t.Fatalf("after a shorter buffer: %v %d %v", h, n, err)
	}
	// The parser is ready for the next request after one.
	two := []byte("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
	p.Reset()
	h1, n1, _ := p.Parse(two)
	h2, n2, _ := p.Parse(two[n1:])
	if h1 == nil || h2 == nil || h1.Target != "/1" || h2.Target != "/2" || n1+n2 != len(two) {
		t.Fatalf("pipelined: %v %v %d %d", h1, h2, n1, n2)
	}
}

func TestErrorResponse(t *testing.T) {
	_, _, err := ParseRequestHead([]byte("GET / HTTP/1.1\r\n\r\n"), Limits{})
	out := string(err.(*Error).AppendResponse(nil))
	want := "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 30\r\nConnection: close\r\n\r\n400 Bad Request: missing Host\n"
	if out != want {
		t.Fatalf("got %q\nwant %q", out, want)
	}
	if err.Error() != "http: 400 missing Host" {
		t.Fatal(err.Error())
	}
	for _, code := range []int{400, 414, 417, 431, 501, 502, 505} {
		if StatusText(code) == "" {
			t.Errorf("no text for %d", code)
		}
	}
}

// The scanner's boundaries: a line whose LF is the first octet past
// MaxHead, and a bare-LF line one octet over the line limit (too long
// wins over the bare LF, whatever the chunking).
func TestScannerBoundaries(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: a\r\nX: 12\r\n" // 32 octets
	for _, tt := range []struct {
		name   string
		in     string
		lim    Limits
		status int
	}{
		{"head ends at the limit", head + "\r\n", Limits{MaxHead: 34}, 0},
		{"LF one past the limit", head + "\r\n", Limits{MaxHead: 33}, 431},
		{"CR one past the limit", head + "\r\n", Limits{MaxHead: 32}, 431},
		{"bare LF line at the limit", "GET / HTTP/1.1\r\nHost: a\r\nX: 1234\n\r\n", Limits{MaxFieldLine: 7}, 400},
		{"bare LF line over the limit", "GET / HTTP/1.1\r\nHost: a\r\nX: 12345\n\r\n", Limits{MaxFieldLine: 7}, 431},
		{"CRLF line at the limit", "GET / HTTP/1.1\r\nHost: a\r\nX: 1234\r\n\r\n", Limits{MaxFieldLine: 7}, 0},
		{"CRLF line over the limit", "GET / HTTP/1.1\r\nHost: a\r\nX: 12345\r\n\r\n", Limits{MaxFieldLine: 7}, 431},
		{"no space in request line", "GET\r\nHost: a\r\n\r\n", Limits{}, 400},
		{"empty Expect elements", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: , 100-continue,\r\n\r\n", Limits{}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			parseStatus(t, tt.in, tt.lim, tt.status)
		})
	}
	if _, _, err := parseResp(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\n", Limits{}); statusOf(err) != 502 {
		t.Fatalf("empty response TE: %v", err)
	}
}
