package sasl

import "encoding/base64"

// Encoding is how a protocol writes one client response on the wire.
type Encoding uint8

const (
	// Base64Line is base64 then CRLF (IMAP, POP3, SMTP).
	Base64Line Encoding = iota
	// QuotedBase64 is a quoted string of base64 then CRLF (ManageSieve).
	QuotedBase64
)

// Append appends raw to dst in encoding e.
func (e Encoding) Append(dst, raw []byte) []byte {
	if e == QuotedBase64 {
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, raw)
		return append(dst, "\"\r\n"...)
	}
	dst = base64.StdEncoding.AppendEncode(dst, raw)
	return append(dst, "\r\n"...)
}

// ErrorResponse is what a client answers to an OAuth error challenge so
// that the server sends its final failure (RFC 7628 section 3.2.3: a single
// %x01; XOAUTH2 clients send an empty response). ok is false for other
// mechanisms, which have no error challenge.
func ErrorResponse(mech string) (raw []byte, ok bool) {
	switch mech {
	case OAuthBearer:
		return []byte{0x01}, true
	case XOAuth2:
		return nil, true
	}
	return nil, false
}

// Replay is the client side of one authentication a backend machine
// replays: the mechanism in flight, the responses due after each server
// challenge, and the one answer to an OAuth error challenge. The zero
// value writes Base64Line.
type Replay struct {
	// Encoding of the error response; pending responses come encoded.
	Encoding Encoding

	mech      string
	pending   [][]byte
	errorSent bool
}

// Start begins an exchange for mech. pending are the wire bytes to send,
// one after each challenge, before any error response.
func (r *Replay) Start(mech string, pending ...[]byte) {
	r.mech, r.pending, r.errorSent = mech, pending, false
}

// Next appends the answer to a server challenge to out: the next pending
// response, else, once, the OAuth error response. ok is false when no
// answer is due: the challenge is unexpected and the replay has failed.
func (r *Replay) Next(out []byte) (_ []byte, ok bool) {
	if len(r.pending) > 0 {
		out = append(out, r.pending[0]...)
		r.pending = r.pending[1:]
		return out, true
	}
	if raw, oauth := ErrorResponse(r.mech); oauth && !r.errorSent {
		r.errorSent = true
		return r.Encoding.Append(out, raw), true
	}
	return out, false
}

// DecodeBase64 decodes a client's response as the protocols carry it:
// standard base64, padded or not; an empty input is an empty response.
// (encoding/base64 skips CR and LF: a caller whose input can hold them
// refuses them first.)
func DecodeBase64(b []byte) ([]byte, bool) {
	enc := base64.StdEncoding
	if len(b)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	out := make([]byte, enc.DecodedLen(len(b)))
	n, err := enc.Decode(out, b)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}
