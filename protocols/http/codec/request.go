package codec

import "strings"

// Version is an HTTP/1.x version.
type Version uint8

const (
	HTTP10 Version = 10 // HTTP/1.0
	HTTP11 Version = 11 // HTTP/1.1
)

func (v Version) String() string {
	switch v {
	case HTTP10:
		return "HTTP/1.0"
	case HTTP11:
		return "HTTP/1.1"
	}
	return "HTTP/?"
}

// TargetForm is the shape of a request-target (RFC 9112 3.2).
type TargetForm uint8

const (
	OriginForm    TargetForm = iota // /path?query
	AbsoluteForm                    // http://host/path?query
	AuthorityForm                   // host:port, CONNECT only
	AsteriskForm                    // *, OPTIONS only
)

// RequestHead is a parsed, validated request head. Every string in it is a
// substring of one private copy of the head: it stays valid after the
// engine reuses its buffer.
type RequestHead struct {
	Method  string
	Target  string     // the request-target as received
	Form    TargetForm //
	Path    string     // origin and absolute forms: the path, not decoded ("/" for an empty absolute path)
	Query   string     // the query without its "?", not decoded
	Version Version

	// Host is the authority the request is for: the request-target's
	// for absolute-form (RFC 9112 3.2.2: it wins over the Host field) and
	// authority-form, else the Host field ("" when absent in HTTP/1.0 or
	// sent empty).
	Host string
	// HostField is the Host field as received ("" when absent).
	HostField string

	Fields []Field // in order, as received

	// ContentLength is the body length when framed by Content-Length,
	// else -1. Chunked says the body is chunked. Neither: no body.
	ContentLength int64
	Chunked       bool

	// Connection options (RFC 9110 7.6.1).
	ConnClose, ConnKeepAlive, ConnUpgrade bool
	// Upgrade is the first Upgrade field ("" when absent).
	Upgrade string
	// WebSocket: an HTTP/1.1 GET with Connection: upgrade and Upgrade:
	// websocket (RFC 6455 4.1), without content. The only upgrade that is
	// forwarded.
	WebSocket bool
	// Expect100: Expect: 100-continue in an HTTP/1.1 request (HTTP/1.0
	// expectations are ignored, RFC 9110 10.1.1).
	Expect100 bool
	// Authorization is the Authorization field ("" when absent; there is
	// at most one).
	Authorization string

	connOpts int
}

// Get returns the first value of the named field (any case), "" if none.
func (h *RequestHead) Get(name string) string {
	v, _ := getField(h.Fields, name)
	return v
}

// Values returns every value of the named field, in order.
func (h *RequestHead) Values(name string) []string { return fieldValues(h.Fields, name) }

// Body says how the request's body is framed.
func (h *RequestHead) Body() (BodyKind, int64) {
	switch {
	case h.Chunked:
		return BodyChunked, -1
	case h.ContentLength >= 0:
		return BodyLength, h.ContentLength
	}
	return BodyNone, 0
}

// Persistent reports whether the client connection may carry another
// request after this one's response (RFC 9112 9.3).
func (h *RequestHead) Persistent() bool {
	if h.ConnClose {
		return false
	}
	return h.Version == HTTP11 || h.ConnKeepAlive
}

// RequestParser parses request heads incrementally. Feed it the engine's
// whole buffer each time (the bytes it had plus what arrived); it
// remembers how far it looked, so nothing is rescanned and nothing is
// copied until the head is complete. Byte-at-a-time input gives exactly
// the verdict of the whole buffer. An engine that drops or replaces
// buffered bytes before a verdict calls Reset. The zero value uses
// default limits.
type RequestParser struct {
	Limits Limits
	sc     headScanner
}

// Parse returns the head and its length once buf holds a whole head
// (empty lines before it included), (nil, 0, nil) while more is needed,
// or a refusal (*Error). After either the parser is ready for the next
// message; the engine must not reuse it after a refusal, as the stream
// cannot be resynchronised.
func (p *RequestParser) Parse(buf []byte) (*RequestHead, int, error) {
	lim := p.Limits.WithDefaults()
	head, end, nf, err := p.sc.next(buf, &scanRules{Limits: lim, skipEmpty: true,
		maxStartLine: lim.MaxTarget + maxMethod + len("  HTTP/1.1"), startTooLong: errLineTooLong})
	if head == nil {
		return nil, 0, err
	}
	h, e := parseRequest(head, nf, &lim)
	if e != nil {
		return nil, 0, e
	}
	return h, end, nil
}

// Reset forgets a partly scanned head.
func (p *RequestParser) Reset() { p.sc = headScanner{} }

// ParseRequestHead parses the request head at the start of buf. It
// returns the head and the number of octets it took, (nil, 0, nil) when
// buf does not yet hold a whole head, or a refusal (*Error, whose Status
// the engine answers with). Octets after n belong to the body or the next
// request. For input that grows, RequestParser avoids rescanning.
func ParseRequestHead(buf []byte, lim Limits) (*RequestHead, int, error) {
	p := RequestParser{Limits: lim}
	return p.Parse(buf)
}

func parseRequest(head []byte, nf int, lim *Limits) (*RequestHead, *Error) {
	h := &RequestHead{ContentLength: -1}
	start := func(line string) *Error { return h.requestLine(line, lim) }
	if err := parseHead(head, nf, start, &h.Fields, h.semantics); err != nil {
		return nil, err
	}
	return h, nil
}

// parseHead parses a whole head: its start line with start, its fields
// into *fields, then their meaning with semantics.
func parseHead(head []byte, nf int, start func(string) *Error, fields *[]Field, semantics func() *Error) *Error {
	raw, keys := copyHead(head)
	i := strings.IndexByte(raw, '\n')
	if err := start(raw[:i-1]); err != nil {
		return err
	}
	f, err := parseFields(raw[i+1:len(raw)-2], keys, nf)
	if err != nil {
		return err
	}
	*fields = f
	return semantics()
}

// requestLine parses method SP request-target SP HTTP-version, with
// single spaces (RFC 9112 3: no lenient whitespace).
func (h *RequestHead) requestLine(line string, lim *Limits) *Error {
	sp1 := strings.IndexByte(line, ' ')
	if sp1 < 0 {
		return errRequestLine
	}
	method, rest := line[:sp1], line[sp1+1:]
	sp2 := strings.LastIndexByte(rest, ' ')
	if sp2 < 0 {
		return errRequestLine // HTTP/0.9, or garbage
	}
	target, version := rest[:sp2], rest[sp2+1:]
	if !IsToken(method) {
		return errMethod
	}
	if len(method) > maxMethod {
		return errMethodTooLong
	}
	if len(target) > lim.MaxTarget {
		return errTargetTooLong
	}
	v, err := parseVersion(version, errVersion, errVersionNotSup)
	if err != nil {
		return err
	}
	h.Method, h.Target, h.Version = method, target, v
	return h.parseTarget()
}

// parseVersion reads HTTP-version = "HTTP/" DIGIT "." DIGIT
// (case-sensitive). Only 1.0 and 1.1 are spoken.
func parseVersion(s string, malformed, unsupported *Error) (Version, *Error) {
	if len(s) != 8 || s[:5] != "HTTP/" || s[6] != '.' ||
		s[5] < '0' || s[5] > '9' || s[7] < '0' || s[7] > '9' {
		return 0, malformed
	}
	switch s[5:] {
	case "1.1":
		return HTTP11, nil
	case "1.0":
		return HTTP10, nil
	}
	return 0, unsupported
}

// semantics applies the rules of the fields that carry meaning.
func (h *RequestHead) semantics() *Error {
	fr := framing{cl: -1}
	hosts, auths := 0, 0
	upgrade := false
	expectOK := true
	for i := range h.Fields {
		f := &h.Fields[i]
		err := fr.field(f, &h.Upgrade)
		switch f.Key {
		case "host":
			hosts++
			h.HostField = f.Value
		case "upgrade":
			upgrade = upgrade || HasToken(f.Value, "websocket")
		case "expect":
			for v := f.Value; v != ""; {
				var e string
				e, v = nextElem(v)
				if e == "" {
					continue
				}
				if EqualFold(e, "100-continue") {
					h.Expect100 = true
				} else {
					expectOK = false
				}
			}
		case "authorization":
			auths++
			h.Authorization = f.Value
		}
		if err != nil {
			return err
		}
	}

	// Host (RFC 9112 3.2): exactly one in HTTP/1.1, at most one in 1.0.
	switch {
	case hosts > 1:
		return errDupHost
	case hosts == 0 && h.Version == HTTP11:
		return errNoHost
	case hosts == 1 && !validHost(h.HostField, false, true):
		return errHost
	}
	if h.Form == OriginForm || h.Form == AsteriskForm {
		h.Host = h.HostField
	}
	if auths > 1 {
		return errDupAuth
	}

	// Framing (RFC 9112 6.1 and 6.3).
	if fr.te {
		if err := fr.teAllowed(h.Version); err != nil {
			return err
		}
		switch {
		case !fr.last:
			return errTENotChunked
		case fr.unknown, fr.other:
			// Only chunked framing is forwarded: the proxy does not
			// decode gzip and friends, and would have to.
			return errTEUnknown
		}
		h.Chunked = true
	}
	h.ContentLength = fr.cl
	h.ConnClose, h.ConnKeepAlive, h.ConnUpgrade = fr.close, fr.keepAlive, fr.upgrade
	h.connOpts = fr.connOpts

	if h.Version == HTTP10 {
		h.Expect100 = false // ignored (RFC 9110 10.1.1)
	} else if !expectOK {
		return errExpect
	}
	hasBody := h.Chunked || h.ContentLength > 0
	if h.Method == "CONNECT" && hasBody {
		return errConnectBody
	}
	// Upgrade is honoured only when Connection names it, and never for
	// HTTP/1.0 (RFC 9110 7.8).
	if h.Method == "GET" && h.Version == HTTP11 && fr.upgrade && upgrade {
		if hasBody {
			// Whether content precedes the switch is exactly the kind
			// of question two parsers answer differently.
			return errUpgradeBody
		}
		h.WebSocket = true
	}
	return nil
}
