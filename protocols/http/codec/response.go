package codec

// ResponseHead is a parsed, validated response head from a backend. As in
// RequestHead, its strings share one private copy of the head.
type ResponseHead struct {
	Version Version
	Status  int
	Reason  string // may be empty
	Fields  []Field

	// ContentLength is the Content-Length (-1 when absent); Chunked says
	// Transfer-Encoding: chunked. Which one frames the body also depends
	// on the request: see Body.
	ContentLength int64
	Chunked       bool

	ConnClose, ConnKeepAlive, ConnUpgrade bool
	Upgrade                               string // the first Upgrade field

	connOpts int
}

// Get returns the first value of the named field (any case), "" if none.
func (h *ResponseHead) Get(name string) string {
	v, _ := getField(h.Fields, name)
	return v
}

// Values returns every value of the named field, in order.
func (h *ResponseHead) Values(name string) []string { return fieldValues(h.Fields, name) }

// Interim reports a 1xx response: the final response is still to come
// (several may precede it). 101 is interim too, but ends HTTP on the
// connection.
func (h *ResponseHead) Interim() bool { return h.Status < 200 }

// Body says how the body of this response to a request with the given
// method is delimited (RFC 9112 6.3): none after 1xx, 204 or 304, to HEAD,
// or after a 2xx to CONNECT (a tunnel); chunked; Content-Length;
// otherwise until the backend closes.
func (h *ResponseHead) Body(method string) (BodyKind, int64) {
	switch {
	case h.Status < 200, h.Status == 204, h.Status == 304, method == "HEAD":
		return BodyNone, 0
	case method == "CONNECT" && h.Status < 300:
		return BodyNone, 0
	case h.Chunked:
		return BodyChunked, -1
	case h.ContentLength >= 0:
		return BodyLength, h.ContentLength
	}
	return BodyUntilClose, -1
}

// ResponseParser parses response heads incrementally, like RequestParser.
// Every refusal has Status 502: the backend is at fault.
type ResponseParser struct {
	Limits Limits
	sc     headScanner
}

// Parse returns the head and its length once buf holds a whole head,
// (nil, 0, nil) while more is needed, or a refusal.
func (p *ResponseParser) Parse(buf []byte) (*ResponseHead, int, error) {
	lim := p.Limits.WithDefaults()
	head, end, nf, err := p.sc.next(buf, &scanRules{Limits: lim, maxStartLine: lim.MaxFieldLine, startTooLong: errFieldTooLong})
	if err != nil {
		return nil, 0, asResponse(err.(*Error))
	}
	if head == nil {
		return nil, 0, nil
	}
	h, e := parseResponse(head, nf)
	if e != nil {
		return nil, 0, asResponse(e)
	}
	return h, end, nil
}

// Reset forgets a partly scanned head.
func (p *ResponseParser) Reset() { p.sc = headScanner{} }

// ParseResponseHead parses the response head at the start of buf, with
// the conventions of ParseRequestHead.
func ParseResponseHead(buf []byte, lim Limits) (*ResponseHead, int, error) {
	p := ResponseParser{Limits: lim}
	return p.Parse(buf)
}

func parseResponse(head []byte, nf int) (*ResponseHead, *Error) {
	h := &ResponseHead{ContentLength: -1}
	if err := parseHead(head, nf, h.statusLine, &h.Fields, h.semantics); err != nil {
		return nil, err
	}
	return h, nil
}

// statusLine parses HTTP-version SP 3DIGIT SP [reason-phrase]. The SP
// before an empty reason is often left out; that is accepted.
func (h *ResponseHead) statusLine(line string) *Error {
	if len(line) < 12 || line[8] != ' ' {
		return errStatusLine
	}
	v, err := parseVersion(line[:8], errStatusLine, errStatusLine)
	if err != nil {
		return err
	}
	code := 0
	for i := 9; i < 12; i++ {
		c := line[i]
		if c < '0' || c > '9' {
			return errStatusLine
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || code > 599 {
		return errStatusCode
	}
	reason := line[12:]
	if reason != "" {
		if reason[0] != ' ' || !validValue(reason[1:]) {
			return errStatusLine
		}
		reason = reason[1:]
	}
	h.Version, h.Status, h.Reason = v, code, reason
	return nil
}

func (h *ResponseHead) semantics() *Error {
	fr := framing{cl: -1}
	for i := range h.Fields {
		if err := fr.field(&h.Fields[i], &h.Upgrade); err != nil {
			return err
		}
	}
	if fr.te {
		// RFC 9112 6.3 lets a client read a response whose final coding
		// is not chunked until the connection closes; but the proxy asks
		// for no transfer coding (it sends no TE), so a backend that uses
		// one other than chunked is broken, and so is one that sends
		// Content-Length too (RFC 9112 6.3: "ought to be handled as an
		// error"), or Transfer-Encoding in HTTP/1.0 (RFC 9112 6.1).
		if err := fr.teAllowed(h.Version); err != nil {
			return err
		}
		if !fr.last || fr.other || fr.unknown {
			return errRespTE
		}
		h.Chunked = true
	}
	h.ContentLength = fr.cl
	h.ConnClose, h.ConnKeepAlive, h.ConnUpgrade = fr.close, fr.keepAlive, fr.upgrade
	h.connOpts = fr.connOpts
	return nil
}
