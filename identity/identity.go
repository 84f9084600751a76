// Package identity finds the routing identifier (the account a login is
// for) in the credentials a client presented: the PLAIN authorization
// identity, the login name, or the account named inside an OAuth bearer
// token.
//
// Nothing here verifies anything. The proxy only decides which backend will
// see the credentials; that backend checks the password or the token's
// signature and expiry exactly as it would without the proxy. A forged token
// can therefore steer a connection to a backend of the forger's choosing, and
// no further: that backend refuses it. Never use an identifier from this
// package for anything but routing (not for authorisation, not as a trusted
// log field).
//
// Two token shapes are understood:
//
//   - JWT (RFC 7519, JWS compact form): three base64url parts. The payload's
//     claims are read without checking the signature.
//   - Stalwart access tokens, "sw1.<body>[.<footer>]". Stalwart seals the
//     account id, grant type, times and credential version with AES-256-GCM-SIV
//     into body = base64url(12-byte nonce || ciphertext with 16-byte tag), and
//     puts the account name, base64url-encoded without padding, in the clear
//     footer, bound to the ciphertext as associated data. So the name can be
//     read without the server's key, and a tampered footer fails at the
//     server. A token without a footer (an account with an empty name) names
//     no account that can be recovered here. Source: Stalwart's
//     crates/common/src/auth/oauth/token.rs (seal_token/open_token) and
//     crypto.rs (nonce and tag sizes). Stalwart tokens issued before the sw1
//     format carry only a numeric account id and are not routable here.
package identity

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// MaxTokenLen is the longest token FromToken looks into. Real access tokens
// are a few KiB at most; anything larger is refused unparsed so a hostile
// client cannot make the event loop decode megabytes of JSON.
const MaxTokenLen = limits.MaxTokenLen

// MaxIdentifierLen bounds the identifier Identify returns. It is generous:
// a mailbox address is at most 254 octets, but directories may use longer
// login names.
const MaxIdentifierLen = limits.MaxIdentifierLen

// DefaultMasterSeparators is used when Options.MasterSeparators is empty.
const DefaultMasterSeparators = "%"

// Errors returned by Identify.
var (
	// ErrNoIdentifier: the credentials name no account (all fields empty, an
	// unreadable token, or nothing left before the master separator).
	ErrNoIdentifier = errors.New("token: no routing identifier in credentials")
	// ErrBadIdentifier: the chosen login is not valid UTF-8, contains control
	// characters or is longer than MaxIdentifierLen.
	ErrBadIdentifier = errors.New("token: routing identifier is malformed")
)

// Options tune Identify.
type Options struct {
	// Claim is a JWT claim to try before the standard ones.
	Claim string
	// MasterSeparators lists the runes that separate a login from a master
	// user's name ("user*master" in Dovecot, whose separator is
	// configurable). Empty means DefaultMasterSeparators.
	MasterSeparators string
}

// Identify returns the routing identifier for one login, before any
// normalisation. The authorization identity wins when present (a master or
// admin user logging in as another account goes where that account lives),
// then the login name, then the account inside the bearer token. A master
// user suffix ("user%master") is cut at the first separator.
func Identify(c sasl.Credentials, opt Options) (string, error) {
	var id string
	switch {
	case c.Authzid != "":
		id = c.Authzid
	case c.Username != "":
		id = c.Username
	case c.Token != "":
		t, ok := FromToken(c.Token, opt.Claim)
		if !ok {
			return "", ErrNoIdentifier
		}
		id = t
	default:
		return "", ErrNoIdentifier
	}
	seps := opt.MasterSeparators
	if seps == "" {
		seps = DefaultMasterSeparators
	}
	if i := strings.IndexAny(id, seps); i >= 0 {
		id = id[:i]
	}
	if id == "" {
		return "", ErrNoIdentifier
	}
	if !validIdentifier(id) {
		return "", ErrBadIdentifier
	}
	return id, nil
}

// standardClaims are tried in order after Options.Claim: the claims that
// common identity providers (Stalwart, Keycloak, Azure AD/Entra, Google)
// use for the user's mail address or login name.
var standardClaims = [...]string{"email", "preferred_username", "upn", "unique_name", "sub"}

// FromToken returns the account named in a bearer token, or false when the
// token is not a shape this package reads, is larger than MaxTokenLen, or
// names no valid identifier. claim, when not empty, is tried first for JWTs.
func FromToken(tok, claim string) (string, bool) {
	if len(tok) == 0 || len(tok) > MaxTokenLen {
		return "", false
	}
	if rest, ok := strings.CutPrefix(tok, stalwartPrefix); ok {
		return fromStalwart(rest)
	}
	return fromJWT(tok, claim)
}

const (
	stalwartPrefix = "sw1."
	// Stalwart's AES-256-GCM-SIV nonce and tag: a body shorter than both
	// cannot be a token the server issued.
	stalwartMinBody = 12 + 16
)

func fromStalwart(rest string) (string, bool) {
	body, footer, ok := strings.Cut(rest, ".")
	if !ok || footer == "" {
		// No footer: the server sealed an empty account name; only the
		// encrypted account id remains.
		return "", false
	}
	raw, ok := decodeB64URL(body)
	if !ok || len(raw) < stalwartMinBody {
		return "", false
	}
	name, ok := decodeB64URL(footer)
	if !ok {
		return "", false
	}
	id := string(name)
	if id == "" || !validIdentifier(id) {
		return "", false
	}
	return id, true
}

func fromJWT(tok, claim string) (string, bool) {
	// Exactly three parts: a JWE (five parts) is encrypted and unreadable.
	hdr, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return "", false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") || hdr == "" || payload == "" {
		return "", false
	}
	// The signature is not checked, but it must at least be base64url so
	// that an arbitrary dotted string is not taken for a JWT.
	if _, ok := decodeB64URL(sig); !ok {
		return "", false
	}
	// The header must be a JSON object too, again to avoid mistaking opaque
	// tokens for JWTs.
	hraw, ok := decodeB64URL(hdr)
	if !ok || !isJSONObject(hraw) {
		return "", false
	}
	praw, ok := decodeB64URL(payload)
	if !ok {
		return "", false
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(praw, &claims); err != nil || claims == nil {
		return "", false
	}
	if claim != "" {
		if v, ok := stringClaim(claims, claim); ok {
			return v, true
		}
	}
	for _, name := range standardClaims {
		if v, ok := stringClaim(claims, name); ok {
			return v, true
		}
	}
	return "", false
}

// stringClaim returns a claim that is a non-empty, valid identifier string.
// A claim of another JSON type, or an unusable string, lets the caller fall
// through to the next claim.
func stringClaim(claims map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := claims[name]
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	if s == "" || !validIdentifier(s) {
		return "", false
	}
	return s, true
}

func isJSONObject(b []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && m != nil
}

// decodeB64URL decodes base64url without padding, tolerating the padding
// some issuers add anyway.
func decodeB64URL(s string) ([]byte, bool) {
	enc := base64.RawURLEncoding
	if strings.HasSuffix(s, "=") {
		// Padded: then it must be correctly padded.
		enc = base64.URLEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, false
	}
	return b, true
}

// validIdentifier: what the router, the logs and backend commands can carry
// safely. Control characters (C0, DEL, C1) would allow line injection into
// replayed commands or logs.
func validIdentifier(s string) bool {
	if len(s) > MaxIdentifierLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
