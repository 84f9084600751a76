package rules

import (
	"net/url"
	"strings"

	"github.com/switchyard-mail/switchyard/protocols/http/codec"
)

// Edge verification of bearer tokens ([oauth] verify). RFC 6750 lets a
// client present its token in three places, and a backend may take it
// from any of them, so the proxy checks all three before a request goes
// anywhere:
//
//   - the Authorization field, "Bearer <token>" (section 2.1);
//   - the access_token field of an application/x-www-form-urlencoded
//     body (section 2.2), read ahead for that (at most BodyExtractCap);
//   - the access_token query parameter (section 2.3).
//
// A request carries at most one distinct token: two different ones are
// refused with 400 invalid_request (section 3.1: "uses more than one
// method for including an access token"), so that a proxy and a backend
// can never pick different ones, and so that one request costs at most
// one verification however many copies it holds.

// AccessTokenParam is the query parameter and form field that carries a
// bearer token (RFC 6750 sections 2.2 and 2.3).
const AccessTokenParam = "access_token"

// Challenges of the answers to a request whose token is refused.
const (
	InvalidTokenChallenge   = `Bearer error="invalid_token"`
	InvalidRequestChallenge = `Bearer error="invalid_request"`
)

// BearerToken returns the token of "Bearer <token>" credentials (the
// value of an Authorization field), for edge verification.
func BearerToken(auth string) (string, bool) {
	// The scheme ends at a space (RFC 9110 11.4); a tab is taken too, as
	// lenient backends do, and "Bearer" alone is a bearer scheme with an
	// empty token, which must not pass for "no token".
	i := strings.IndexAny(auth, " \t")
	if i < 0 {
		return "", codec.EqualFold(auth, "bearer")
	}
	if !codec.EqualFold(auth[:i], "bearer") {
		return "", false
	}
	return strings.TrimLeft(auth[i:], " \t"), true
}

// BearerCheck collects the bearer tokens of one request, from every place
// RFC 6750 allows, and verifies them: Check. The zero value is ready.
type BearerCheck struct {
	tok      string
	n        int  // distinct tokens seen, at most 2
	verified bool // tok passed the verifier
}

// Authorization takes the value of an Authorization field.
func (b *BearerCheck) Authorization(v string) {
	if tok, ok := BearerToken(v); ok {
		b.add(tok)
	}
}

// Form takes a query or a form body (application/x-www-form-urlencoded,
// the same encoding) and every access_token in it.
//
// Backends do not agree on how to read one, so every reading is taken:
// fields split at "&", and again at ";" (an older convention some
// servers keep), names compared after percent-decoding, without case or
// surrounding spaces. A value that does not decode is taken as it is:
// it holds a '%', which no token has, so it fails verification.
func (b *BearerCheck) Form(s string) {
	for s != "" && b.n < 2 {
		var field string
		field, s, _ = strings.Cut(s, "&")
		b.field(field)
		if strings.IndexByte(field, ';') >= 0 {
			for field != "" && b.n < 2 {
				var part string
				part, field, _ = strings.Cut(field, ";")
				b.field(part)
			}
		}
	}
}

func (b *BearerCheck) field(f string) {
	k, v, _ := strings.Cut(f, "=")
	if k == "" {
		return
	}
	if !isAccessTokenName(k) {
		dk, err := url.QueryUnescape(k)
		if err != nil || !isAccessTokenName(dk) {
			return
		}
	}
	if dv, err := url.QueryUnescape(v); err == nil {
		v = dv
	}
	b.add(v)
}

func isAccessTokenName(k string) bool {
	return strings.EqualFold(strings.TrimSpace(k), AccessTokenParam)
}

func (b *BearerCheck) add(tok string) {
	switch {
	case b.n == 0:
		b.tok, b.n = tok, 1
	case tok != b.tok:
		b.n = 2
	}
}

// Found reports whether the request carries a bearer token so far.
func (b *BearerCheck) Found() bool { return b.n > 0 }

// Check verifies the token collected so far (once: a token that passed
// is not verified again when more copies of it turn up) and returns the
// answer for a request that must not go on, or nil: 400 invalid_request
// for two different tokens, 401 invalid_token for one that does not
// verify.
func (b *BearerCheck) Check(verify func(token string) error) *Decision {
	switch {
	case b.n == 0:
		return nil
	case b.n > 1:
		return &Decision{Status: 400, Reason: "more than one access token", Challenge: InvalidRequestChallenge}
	case b.verified:
		return nil
	case verify(b.tok) != nil:
		return &Decision{Status: 401, Reason: "invalid token", Challenge: InvalidTokenChallenge}
	}
	b.verified = true
	return nil
}

// IsFormContent reports whether a Content-Type value names
// application/x-www-form-urlencoded (any case, with or without
// parameters; in a list, any element), the body RFC 6750 section 2.2
// reads an access_token from.
func IsFormContent(ct string) bool {
	for ct != "" {
		var el string
		el, ct, _ = strings.Cut(ct, ",")
		mt, _, _ := strings.Cut(el, ";")
		if strings.EqualFold(strings.Trim(mt, " \t"), "application/x-www-form-urlencoded") {
			return true
		}
	}
	return false
}
