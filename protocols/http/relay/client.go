package relay

import (
	"strconv"

	"github.com/switchyard-mail/switchyard/protocols/http/codec"
)

// ClientResponseOptions describes the exchange a backend response belongs to.
type ClientResponseOptions struct {
	// Request is the client's request this response answers (required).
	Request *codec.RequestHead
	// Close: the engine closes the client after this response (draining,
	// or a body it will not read). Connection: close is then sent.
	Close bool
	// Via, as in ForwardOptions.
	Via string
}

// ResponsePlan tells the engine what to do after writing the head.
type ResponsePlan struct {
	// Body and Length: what follows the head from the backend, as
	// ResponseHead.Body says.
	Body   codec.BodyKind
	Length int64
	// Interim: a 1xx other than 101; the next head from the backend is
	// for the same request.
	Interim bool
	// Skip: an interim response an HTTP/1.0 client must not get (RFC
	// 9110 15.2); nothing was appended.
	Skip bool
	// Tunnel: 101 to a WebSocket upgrade, or 2xx to CONNECT. After the
	// head, relay octets both ways until either side closes.
	Tunnel bool
	// Dechunk: a chunked body for an HTTP/1.0 client. Pass it through
	// ChunkedBody.Decode and write only the data; the client is closed
	// after it.
	Dechunk bool
	// Close: close the client connection once the body is written.
	Close bool
}

// errUnsolicited101 is a switch the client did not ask for (or to a
// protocol other than the WebSocket it asked for).
var errUnsolicited101 = &codec.Error{Status: 502, Reason: "unexpected 101 Switching Protocols"}

// AppendClientResponse appends the response head to send to the client
// and says how to relay the rest. The status line is HTTP/1.1 whatever
// the backend spoke. Hop-by-hop fields are dropped (Connection,
// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
// and every field Connection names), and the framing is written again:
// Content-Length or Transfer-Encoding: chunked as the body needs, with
// Connection: close when the client must be closed after it and
// Connection: keep-alive for a persistent HTTP/1.0 client. A 101 gets
// Connection: upgrade and Upgrade: websocket. An error (502) means the
// response cannot be relayed.
func AppendClientResponse(dst []byte, h *codec.ResponseHead, opt ClientResponseOptions) ([]byte, ResponsePlan, error) {
	req := opt.Request
	var p ResponsePlan
	p.Body, p.Length = h.Body(req.Method)
	switch {
	case h.Status == 101:
		if !req.WebSocket || !h.ConnUpgrade || !codec.HasToken(h.Upgrade, "websocket") {
			return dst, p, errUnsolicited101
		}
		p.Tunnel = true
	case h.Status < 200:
		p.Interim = true
		if req.Version == codec.HTTP10 {
			p.Skip = true
			return dst, p, nil
		}
	case req.Method == "CONNECT" && h.Status < 300:
		p.Tunnel = true
	default:
		p.Dechunk = p.Body == codec.BodyChunked && req.Version == codec.HTTP10
		p.Close = opt.Close || !req.Persistent() || p.Body == codec.BodyUntilClose || p.Dechunk
	}

	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(h.Status), 10)
	dst = append(dst, ' ')
	dst = append(dst, h.Reason...)
	dst = append(dst, "\r\n"...)

	var inVia []string
	for i := range h.Fields {
		f := &h.Fields[i]
		if h.HopOnly(f.Key) {
			continue
		}
		switch f.Key {
		case "content-length", "transfer-encoding", "connection", "keep-alive",
			"proxy-connection", "te", "trailer", "upgrade":
			continue
		case "via":
			if opt.Via != "" {
				if f.Value != "" {
					inVia = append(inVia, f.Value)
				}
				continue
			}
		}
		dst = appendField(dst, f.Name, f.Value)
	}

	switch {
	case h.Status == 101:
		dst = append(dst, "Connection: upgrade\r\nUpgrade: websocket\r\n"...)
	case p.Interim, p.Tunnel:
		// No framing fields: 1xx have no content and a 2xx to CONNECT
		// must not carry Content-Length (RFC 9110 9.3.6).
	default:
		switch {
		case p.Body == codec.BodyLength:
			dst = codec.AppendContentLength(dst, p.Length)
		case p.Body == codec.BodyChunked && !p.Dechunk:
			dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
		case p.Body == codec.BodyNone && h.Status != 204 && h.ContentLength >= 0:
			// HEAD and 304 may tell the length the content would have.
			dst = codec.AppendContentLength(dst, h.ContentLength)
		}
		switch {
		case p.Close:
			dst = append(dst, "Connection: close\r\n"...)
		case req.Version == codec.HTTP10:
			dst = append(dst, "Connection: keep-alive\r\n"...)
		}
	}
	dst = appendVia(dst, inVia, opt.Via)
	return append(dst, "\r\n"...), p, nil
}
