package relay

import (
	"bufio"
	"bytes"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/http/codec"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

var fuzzSmallLimits = codec.Limits{MaxHead: 512, MaxFields: 8, MaxFieldLine: 128, MaxTarget: 64,
	MaxChunkLine: 16, MaxChunkExt: 40, MaxTrailer: 40}

// Room for whatever AppendForward adds to a head that passed lim.
var fuzzBigLimits = codec.Limits{MaxHead: 1 << 20, MaxFields: 1 << 12, MaxFieldLine: 1 << 20, MaxTarget: 1 << 20}

func fuzzForwardOptions(flags uint8) ForwardOptions {
	opt := ForwardOptions{
		Client:         netip.MustParseAddrPort("192.0.2.1:4711"),
		TrustForwarded: flags&2 != 0,
		TLS:            flags&4 != 0,
		Close:          flags&16 != 0,
	}
	if flags&8 != 0 {
		opt.Via = "switchyard"
	}
	if flags&32 != 0 {
		opt.Client = netip.MustParseAddrPort("[2001:db8::1]:443")
	}
	return opt
}

// FuzzRequestHead: no panic; n within the input; refusals carry a request
// status; a growing buffer (in random steps) gets the very verdict of the
// whole; an accepted head, forwarded, parses again to the same method,
// target, host and framing, carries no hop-by-hop field the proxy did not
// write, and forwards to the same bytes again (no drift a second proxy
// could exploit); and net/http reads what we accept the same way.
func FuzzRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /jmap/api HTTP/1.1\r\nHost: mail.example.com\r\nContent-Type: application/json\r\nAuthorization: Bearer x.y.z\r\nContent-Length: 2\r\n\r\n{}",
		"PUT /dav/f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: a:8080\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n",
		"GET http://b.example/p?q HTTP/1.1\r\nHost: a\r\nConnection: X-Hop\r\nX-Hop: 1\r\nTE: trailers\r\n\r\n",
		"\r\nOPTIONS * HTTP/1.0\r\nConnection: keep-alive\r\nForwarded: for=1.2.3.4\r\nX-Forwarded-For: 1.2.3.4\r\nVia: 1.0 x\r\n\r\n",
		"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\nContent-Length: 005\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
	} {
		f.Add([]byte(s), []byte{3, 1}, uint8(0))
	}
	f.Add([]byte("GET /"+strings.Repeat("a", 70)+" HTTP/1.1\r\nHost: a\r\n\r\n"), []byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		lim := codec.Limits{}
		if flags&1 != 0 {
			lim = fuzzSmallLimits
		}
		h, n, err := codec.ParseRequestHead(data, lim)
		if n < 0 || n > len(data) {
			t.Fatalf("n = %d of %d", n, len(data))
		}
		switch statusOf(err) {
		case 0, 400, 414, 417, 431, 501, 505:
		default:
			t.Fatalf("refusal %v", err)
		}
		if err != nil && (h != nil || n != 0) {
			t.Fatalf("refusal with a head")
		}
		if len(data) <= 4096 {
			p := codec.RequestParser{Limits: lim}
			h2, n2, err2 := parseGrowing(data, cuts, p.Parse)
			if n2 != n || err2 != err || (h2 == nil) != (h == nil) {
				t.Fatalf("growing buffer: (%d, %v), whole: (%d, %v)", n2, err2, n, err)
			}
		}
		if h == nil {
			return
		}
		opt := fuzzForwardOptions(flags)
		out := AppendForward(nil, h, opt)
		g, gn, err := codec.ParseRequestHead(out, fuzzBigLimits)
		if err != nil || gn != len(out) {
			t.Fatalf("forwarded head refused: %v\n%q\nfrom %q", err, out, data[:n])
		}
		wantPath, wantQuery, wantTarget := h.Path, h.Query, h.Target
		if h.Form == codec.AbsoluteForm {
			wantTarget = string(out[len(h.Method)+1 : bytes.IndexByte(out, '\r')-len(" HTTP/1.1")])
		}
		if g.Method != h.Method || g.Target != wantTarget || g.Path != wantPath || g.Query != wantQuery ||
			g.Host != h.Host || g.Version != codec.HTTP11 || g.Chunked != h.Chunked || g.ContentLength != h.ContentLength ||
			g.WebSocket != h.WebSocket || g.Expect100 != h.Expect100 || g.Authorization != h.Authorization {
			t.Fatalf("forwarded head reads differently:\n%q\nfrom %q", out, data[:n])
		}
		counts := map[string]int{}
		for _, f := range g.Fields {
			counts[f.Key]++
		}
		if counts["host"] != 1 || counts["content-length"]+counts["transfer-encoding"] > 1 ||
			counts["keep-alive"]+counts["proxy-connection"]+counts["te"]+counts["trailer"]+counts["proxy-authorization"] > 0 ||
			counts["connection"] > 1 || counts["upgrade"] > 0 && !h.WebSocket ||
			counts["forwarded"] != 1 || counts["x-forwarded-for"] != 1 || counts["x-forwarded-proto"] < 1 {
			t.Fatalf("forwarded fields %v:\n%q", counts, out)
		}
		if !opt.TrustForwarded && opt.Via == "" {
			if again := AppendForward(nil, g, opt); !bytes.Equal(again, out) {
				t.Fatalf("forwarding drifts:\n%q\n%q", out, again)
			}
		}
		agreesWithStdlib(t, data[:n], h)
	})
}

// parseGrowing feeds parse ever longer prefixes of data, in the steps
// cuts gives, as the engine does when bytes trickle in, and returns its
// first verdict (its last answer when there is none).
func parseGrowing[H any](data, cuts []byte, parse func([]byte) (*H, int, error)) (h *H, n int, err error) {
	for _, end := range prototest.Cuts(data, cuts) {
		if h, n, err = parse(data[:end]); h != nil || err != nil {
			break
		}
	}
	return h, n, err
}

// agreesWithStdlib checks that net/http reads an accepted head the same
// way. It is laxer than this package, so it must accept what we accept;
// the exceptions are spelled out.
func agreesWithStdlib(t *testing.T, head []byte, h *codec.RequestHead) {
	head = bytes.TrimLeft(head, "\r\n") // the server skips these, ReadRequest does not
	if te := h.Values("transfer-encoding"); h.Chunked && (len(te) != 1 || !codec.EqualFold(te[0], "chunked")) {
		return // net/http takes only the bare "chunked" (we allow empty list elements)
	}
	if h.Get("trailer") != "" {
		return // net/http checks the Trailer field's names; we drop the field
	}
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		t.Fatalf("net/http refuses what we accept: %v\n%q", err, head)
	}
	cl := h.ContentLength
	switch {
	case h.Chunked:
		cl = -1
	case cl < 0:
		cl = 0
	}
	host := h.Host
	if r.Method != h.Method || r.Host != host || r.ContentLength != cl || r.ProtoMinor != int(h.Version)-10 {
		t.Fatalf("net/http reads %s %q %d 1.%d, we read %s %q %d %v\n%q",
			r.Method, r.Host, r.ContentLength, r.ProtoMinor, h.Method, host, cl, h.Version, head)
	}
}

// FuzzResponseHead: no panic; n within the input; only 502s; a growing
// buffer agrees with the whole; and what AppendClientResponse makes of an
// accepted head parses again to the same status and to the framing the
// plan announced.
func FuzzResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: X-A\r\nX-A: 1\r\n\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nbody",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 200\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\nX: y\n\n",
	} {
		for _, flags := range []uint8{0, 1, 6, 9} {
			f.Add([]byte(s), []byte{5}, flags)
		}
	}
	reqs := []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n",
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		lim := codec.Limits{}
		if flags&8 != 0 {
			lim = fuzzSmallLimits
		}
		h, n, err := codec.ParseResponseHead(data, lim)
		if n < 0 || n > len(data) || (err != nil && (h != nil || n != 0)) {
			t.Fatalf("n = %d of %d, err %v", n, len(data), err)
		}
		if s := statusOf(err); s != 0 && s != 502 {
			t.Fatalf("refusal %v", err)
		}
		if len(data) <= 4096 {
			p := codec.ResponseParser{Limits: lim}
			h2, n2, err2 := parseGrowing(data, cuts, p.Parse)
			if n2 != n || (h2 == nil) != (h == nil) || (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
				t.Fatalf("growing buffer: (%d, %v), whole: (%d, %v)", n2, err2, n, err)
			}
		}
		if h == nil {
			return
		}
		req, _, rerr := codec.ParseRequestHead([]byte(reqs[flags&7]), codec.Limits{})
		if rerr != nil {
			t.Fatal(rerr)
		}
		opt := ClientResponseOptions{Request: req, Close: flags&16 != 0}
		if flags&32 != 0 {
			opt.Via = "switchyard"
		}
		out, plan, err := AppendClientResponse(nil, h, opt)
		if err != nil {
			if statusOf(err) != 502 || h.Status != 101 {
				t.Fatalf("AppendClientResponse: %v", err)
			}
			return
		}
		if plan.Skip {
			if len(out) != 0 {
				t.Fatalf("skipped but wrote %q", out)
			}
			return
		}
		g, gn, err := codec.ParseResponseHead(out, fuzzBigLimits)
		if err != nil || gn != len(out) || g.Status != h.Status || g.Version != codec.HTTP11 {
			t.Fatalf("client head refused or changed: %v\n%q", err, out)
		}
		kind, length := g.Body(req.Method)
		switch {
		case plan.Interim || plan.Tunnel:
			if g.ContentLength >= 0 || g.Chunked {
				t.Fatalf("framing on an interim or tunnel head: %q", out)
			}
		case plan.Dechunk:
			if kind != codec.BodyUntilClose || !g.ConnClose {
				t.Fatalf("dechunked body not delimited by close: %q", out)
			}
		case kind != plan.Body || length != plan.Length:
			t.Fatalf("client reads %v %d, plan %v %d: %q", kind, length, plan.Body, plan.Length, out)
		}
		if plan.Close != g.ConnClose {
			t.Fatalf("plan.Close %v, Connection: close %v: %q", plan.Close, g.ConnClose, out)
		}
	})
}
