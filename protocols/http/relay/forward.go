package relay

import (
	"net/netip"
	"strings"

	"github.com/switchyard-mail/switchyard/protocols/http/codec"
)

// ForwardOptions says what the proxy knows about the client connection.
type ForwardOptions struct {
	// Client is the real client (after a trusted PROXY header); the zero
	// value is rendered as "unknown".
	Client netip.AddrPort
	// TLS: the client leg is TLS (proto=https).
	TLS bool
	// TrustForwarded keeps the client's Forwarded, X-Forwarded-For,
	// X-Forwarded-Proto and X-Forwarded-Host, and appends to the first
	// two. Only for clients that are trusted proxies themselves: from
	// anyone else they are forged, and dropped.
	TrustForwarded bool
	// Via, when not empty, is the pseudonym added as "Via: 1.1 <Via>"
	// (RFC 9110 7.6.3). Off by default: it names the proxy to backends
	// that do not care, and costs a field per request.
	Via string
	// Close asks the backend to close after its response. By default the
	// backend leg is kept alive whatever the client said.
	Close bool
	// NoForwarded leaves out the fields the proxy writes about the client
	// (Forwarded, X-Forwarded-For, X-Forwarded-Proto), for a backend that
	// does not want them. The client's own are still dropped, unless
	// TrustForwarded keeps them, then as received.
	NoForwarded bool
	// DropExpect drops Expect: 100-continue. The proxy sets it when the
	// whole body goes out with the head (it already holds it, and may have
	// answered 100 Continue itself), so the backend has nothing to wait for.
	DropExpect bool
}

// AppendForward appends the request head to send to a backend: always
// HTTP/1.1, origin-form for an absolute-form target, Host first, the
// client's fields in order minus the hop-by-hop ones, one canonical
// framing field, then the forwarding fields. The body, if any, follows
// as received (chunked bodies are not re-chunked).
//
// Dropped: Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
// Upgrade, Proxy-Authorization, every field Connection names (RFC 9110
// 7.6.1), Host, Content-Length and Transfer-Encoding (rewritten), Expect
// in HTTP/1.0 (RFC 9110 10.1.1), and, unless TrustForwarded, Forwarded
// and X-Forwarded-*.
func AppendForward(dst []byte, h *codec.RequestHead, opt ForwardOptions) []byte {
	dst = append(dst, h.Method...)
	dst = append(dst, ' ')
	dst = appendOutTarget(dst, h)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, h.Host...)
	dst = append(dst, "\r\n"...)

	var inFwd, inXFF, inVia []string
	xfp := false
	for i := range h.Fields {
		f := &h.Fields[i]
		if h.HopOnly(f.Key) {
			continue // for this hop only; what the proxy writes itself is written anyway
		}
		switch f.Key {
		case "host", "content-length", "transfer-encoding", "connection", "keep-alive",
			"proxy-connection", "te", "trailer", "upgrade", "proxy-authorization":
			continue
		case "expect":
			// 100-continue is the only expectation (others got 417): a
			// field without it means nothing and is not passed on.
			if h.Version == codec.HTTP10 || opt.DropExpect || !h.Expect100 {
				continue
			}
		case "forwarded", "x-forwarded-for":
			if opt.NoForwarded {
				if !opt.TrustForwarded {
					continue
				}
				break // kept as received: nothing is appended to them
			}
			if opt.TrustForwarded && f.Value != "" {
				if f.Key == "forwarded" {
					inFwd = append(inFwd, f.Value)
				} else {
					inXFF = append(inXFF, f.Value)
				}
			}
			continue // rewritten below
		case "x-forwarded-proto", "x-forwarded-host":
			if !opt.TrustForwarded {
				continue
			}
			xfp = xfp || f.Key == "x-forwarded-proto"
		case "via":
			if opt.Via != "" {
				if f.Value != "" {
					inVia = append(inVia, f.Value)
				}
				continue // rewritten below
			}
		}
		dst = appendField(dst, f.Name, f.Value)
	}

	switch {
	case h.Chunked:
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	case h.ContentLength >= 0:
		dst = codec.AppendContentLength(dst, h.ContentLength)
	}
	switch {
	case h.WebSocket:
		dst = append(dst, "Connection: upgrade\r\nUpgrade: websocket\r\n"...)
	case opt.Close:
		dst = append(dst, "Connection: close\r\n"...)
	}

	if opt.NoForwarded {
		dst = appendVia(dst, inVia, opt.Via)
		return append(dst, "\r\n"...)
	}
	proto := "http"
	if opt.TLS {
		proto = "https"
	}
	dst = append(dst, "Forwarded: "...)
	for _, v := range inFwd {
		dst = append(dst, v...)
		dst = append(dst, ", "...)
	}
	dst = codec.AppendForwardedElement(dst, opt.Client, proto, h.Host)
	dst = append(dst, "\r\nX-Forwarded-For: "...)
	for _, v := range inXFF {
		dst = append(dst, v...)
		dst = append(dst, ", "...)
	}
	if a := opt.Client.Addr(); a.IsValid() {
		dst = a.Unmap().WithZone("").AppendTo(dst)
	} else {
		dst = append(dst, "unknown"...)
	}
	dst = append(dst, "\r\n"...)
	if !xfp {
		dst = append(dst, "X-Forwarded-Proto: "...)
		dst = append(dst, proto...)
		dst = append(dst, "\r\n"...)
	}
	dst = appendVia(dst, inVia, opt.Via)
	return append(dst, "\r\n"...)
}

// appendOutTarget writes the request-target for the backend: origin-form
// for absolute-form (RFC 9112 3.2.1: an origin server gets the path and
// query, the authority goes into Host), the target as received otherwise.
func appendOutTarget(dst []byte, h *codec.RequestHead) []byte {
	if h.Form != codec.AbsoluteForm {
		return append(dst, h.Target...)
	}
	dst = append(dst, h.Path...)
	if strings.IndexByte(h.Target, '?') >= 0 {
		dst = append(dst, '?')
		dst = append(dst, h.Query...)
	}
	return dst
}

func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

func appendVia(dst []byte, in []string, via string) []byte {
	if via == "" {
		return dst
	}
	dst = append(dst, "Via: "...)
	for _, v := range in {
		dst = append(dst, v...)
		dst = append(dst, ", "...)
	}
	dst = append(dst, "1.1 "...)
	dst = append(dst, via...)
	return append(dst, "\r\n"...)
}
