package codec

import (
	"bytes"
	"strings"
)

// Field is one header field line.
type Field struct {
	Name  string // as received
	Key   string // Name in lowercase, for comparisons
	Value string // with leading and trailing OWS removed
}

// copyHead makes the one copy a parsed head needs: its octets as a string,
// followed by the lowercase form of every field name. Every string of the
// parsed head (method, target, names, keys, values) is a substring of it.
// The first line is the start line; lines end in CRLF (the scanner saw to
// that).
func copyHead(head []byte) (raw, keys string) {
	body := head[bytes.IndexByte(head, '\n')+1:]
	nl := 0
	for rest := body; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if c := bytes.IndexByte(rest[:i], ':'); c > 0 {
			nl += c
		}
		rest = rest[i+1:]
	}
	var b strings.Builder
	b.Grow(len(head) + nl)
	b.Write(head)
	for rest := body; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if c := bytes.IndexByte(rest[:i], ':'); c > 0 {
			for _, ch := range rest[:c] {
				b.WriteByte(lowerASCII(ch))
			}
		}
		rest = rest[i+1:]
	}
	s := b.String()
	return s[:len(head)], s[len(head):]
}

// parseFields checks and splits the field lines in section (each ending
// in CRLF, the final empty line excluded), taking each key from keys in
// order. nf is the number of lines, for an exact allocation.
func parseFields(section, keys string, nf int) ([]Field, *Error) {
	fields := make([]Field, 0, nf)
	for section != "" {
		i := strings.IndexByte(section, '\n')
		line := section[:i-1] // the scanner made sure of the CR
		section = section[i+1:]
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold, or whitespace between the start line and the
			// first field (RFC 9112 2.2 and 5.2): both refused.
			return nil, errObsFold
		}
		c := strings.IndexByte(line, ':')
		if c < 0 {
			return nil, errNoColon
		}
		name := line[:c]
		if !IsToken(name) {
			if name != "" && isOWS(name[len(name)-1]) {
				return nil, errSpaceColon
			}
			return nil, errFieldName
		}
		value := trimOWS(line[c+1:])
		if !validValue(value) {
			return nil, errFieldValue
		}
		key := keys[:c]
		keys = keys[c:]
		if lookalike(key) {
			return nil, errLookalikeName
		}
		fields = append(fields, Field{Name: name, Key: key, Value: value})
	}
	return fields, nil
}

// lookalike reports a name that some servers (CGI-style environments,
// some frameworks) would read as a framing or routing field, because they
// map "_" and "-" to the same thing: Content_Length, Transfer_Encoding.
func lookalike(key string) bool {
	if strings.IndexByte(key, '_') < 0 {
		return false
	}
	k := strings.ReplaceAll(key, "_", "-")
	return k == "content-length" || k == "transfer-encoding"
}

// getField returns the first value of the field named name.
func getField(fields []Field, name string) (string, bool) {
	for i := range fields {
		if strings.EqualFold(fields[i].Key, name) {
			return fields[i].Value, true
		}
	}
	return "", false
}

// fieldValues returns every value of the field named name, in order.
func fieldValues(fields []Field, name string) []string {
	var vs []string
	for i := range fields {
		if strings.EqualFold(fields[i].Key, name) {
			vs = append(vs, fields[i].Value)
		}
	}
	return vs
}

// parseContentLength reads a Content-Length value: 1*DIGIT, no sign, no
// list, no inner whitespace, at most 18 digits (fits an int64).
func parseContentLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// framing gathers what the fields say about a message's framing and its
// connection, common to requests and responses.
type framing struct {
	clRaw   string // first Content-Length value
	cl      int64  // -1: none
	te      bool   // a Transfer-Encoding field was present
	teElems int    // codings seen
	chunked bool   // chunked seen
	last    bool   // chunked is the last coding so far
	other   bool   // a known coding other than chunked seen
	unknown bool   // an unknown coding seen

	close, keepAlive, upgrade bool
	connOpts                  int // other connection options (names of fields)
}

// maxConnOpts bounds the fields a Connection header may name: each is
// compared with every field when forwarding.
const maxConnOpts = 32

// field takes the fields that frame a message (Content-Length,
// Transfer-Encoding, Connection) and the first Upgrade into *upgrade; it
// ignores any other.
func (fr *framing) field(f *Field, upgrade *string) *Error {
	switch f.Key {
	case "content-length":
		return fr.contentLength(f.Value)
	case "transfer-encoding":
		return fr.transferEncoding(f.Value)
	case "connection":
		return fr.connection(f.Value)
	case "upgrade":
		if *upgrade == "" {
			*upgrade = f.Value
		}
	}
	return nil
}

// teAllowed is the rule both directions apply to Transfer-Encoding: not
// in HTTP/1.0 (RFC 9112 6.1), not with Content-Length, not empty.
func (fr *framing) teAllowed(v Version) *Error {
	switch {
	case v == HTTP10:
		return errTE10
	case fr.cl >= 0:
		return errCLAndTE
	case fr.teElems == 0:
		return errTE
	}
	return nil
}

func (fr *framing) contentLength(v string) *Error {
	n, ok := parseContentLength(v)
	if !ok {
		return errCL
	}
	if fr.cl >= 0 {
		// RFC 9112 6.3: repeated fields must be identical. "5" and "05"
		// are not: whatever a backend would make of it, it is refused.
		if v != fr.clRaw {
			return errCLMismatch
		}
		return nil
	}
	fr.cl, fr.clRaw = n, v
	return nil
}

func (fr *framing) transferEncoding(v string) *Error {
	fr.te = true
	for v != "" {
		var e string
		e, v = nextElem(v)
		if e == "" {
			continue // empty list elements are allowed (RFC 9110 5.6.1)
		}
		if !IsToken(e) {
			return errTE // parameters, quotes, spaces: nothing we accept
		}
		fr.teElems++
		switch {
		case EqualFold(e, "chunked"):
			if fr.chunked {
				return errChunkedTwice
			}
			fr.chunked, fr.last = true, true
			continue
		case EqualFold(e, "gzip"), EqualFold(e, "x-gzip"), EqualFold(e, "deflate"),
			EqualFold(e, "compress"), EqualFold(e, "x-compress"):
			fr.other = true
		default:
			fr.unknown = true
		}
		fr.last = false
	}
	return nil
}

func (fr *framing) connection(v string) *Error {
	for v != "" {
		var e string
		e, v = nextElem(v)
		switch {
		case e == "":
		case !IsToken(e):
			return errConnection
		case EqualFold(e, "close"):
			fr.close = true
		case EqualFold(e, "keep-alive"):
			fr.keepAlive = true
		case EqualFold(e, "upgrade"):
			fr.upgrade = true
		default:
			fr.connOpts++
			if fr.connOpts > maxConnOpts {
				return errConnTooMany
			}
		}
	}
	return nil
}

// nominated reports whether a Connection field of fields names key (a
// lowercase field name): such a field is for the next hop only.
func nominated(fields []Field, key string) bool {
	for i := range fields {
		if fields[i].Key == "connection" && HasToken(fields[i].Value, key) {
			return true
		}
	}
	return false
}

// HopOnly reports whether the head's Connection field names key (a
// lowercase field name): that field is for this hop only (RFC 9110 7.6.1).
func (h *RequestHead) HopOnly(key string) bool { return h.connOpts > 0 && nominated(h.Fields, key) }

// HopOnly is RequestHead.HopOnly for a response head.
func (h *ResponseHead) HopOnly(key string) bool { return h.connOpts > 0 && nominated(h.Fields, key) }
