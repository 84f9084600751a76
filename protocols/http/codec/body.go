package codec

// BodyKind is how a message body is delimited (RFC 9112 6.3).
type BodyKind uint8

const (
	BodyNone       BodyKind = iota // no body: the next message follows the head
	BodyLength                     // Content-Length octets
	BodyChunked                    // chunked transfer coding, forwarded as is
	BodyUntilClose                 // a response read until the backend closes
)

func (k BodyKind) String() string {
	switch k {
	case BodyNone:
		return "none"
	case BodyLength:
		return "length"
	case BodyChunked:
		return "chunked"
	case BodyUntilClose:
		return "until-close"
	}
	return "?"
}

// ContentLengthBody counts the octets of a Content-Length body.
type ContentLengthBody struct{ left int64 }

// NewContentLengthBody frames a body of n octets.
func NewContentLengthBody(n int64) ContentLengthBody { return ContentLengthBody{left: n} }

// Feed returns how many octets at the start of in belong to the body and
// whether the body is now complete. It never claims more than it is given.
func (b *ContentLengthBody) Feed(in []byte) (n int, done bool) {
	k := int64(len(in))
	if k > b.left {
		k = b.left
	}
	b.left -= k
	return int(k), b.left == 0
}

// Remaining is the number of body octets still to come.
func (b *ContentLengthBody) Remaining() int64 { return b.left }

// Body frames one message body of any kind, for an engine that does not
// want to switch on BodyKind itself.
type Body struct {
	kind BodyKind
	cl   ContentLengthBody
	ch   ChunkedBody
}

// NewBody frames a body of the kind (and length, for BodyLength) given by
// RequestHead.Body or ResponseHead.Body.
func NewBody(kind BodyKind, length int64, lim Limits) Body {
	b := Body{kind: kind}
	switch kind {
	case BodyLength:
		b.cl = NewContentLengthBody(length)
	case BodyChunked:
		b.ch = NewChunkedBody(lim)
	}
	return b
}

// Feed returns how many octets at the start of in belong to the body, to
// be forwarded as they are, and whether the body is complete. A
// BodyUntilClose body takes everything and is never done: it ends when
// the backend closes. A BodyNone body is done at once.
func (b *Body) Feed(in []byte) (n int, done bool, err error) {
	switch b.kind {
	case BodyLength:
		n, done = b.cl.Feed(in)
		return n, done, nil
	case BodyChunked:
		return b.ch.Feed(in)
	case BodyUntilClose:
		return len(in), false, nil
	}
	return 0, true, nil
}

// Kind is the kind of body being framed.
func (b *Body) Kind() BodyKind { return b.kind }

// Remaining is the number of octets still to come of a BodyLength body
// (0 for other kinds).
func (b *Body) Remaining() int64 { return b.cl.left }
