package verify

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchyard-mail/switchyard/identity"
)

// Stalwart access tokens (crates/common/src/auth/oauth/token.rs, crypto.rs,
// config.rs and mod.rs in stalwartlabs/stalwart):
//
//	token  = "sw1." base64url(nonce || ciphertext || tag) [ "." base64url(name) ]
//	key    = BLAKE3 derive_key(context "stalwart-oauth-token-sw1",
//	                           key material = the OAuth encryption key's bytes)
//	cipher = AES-256-GCM-SIV, 12-byte random nonce, 16-byte tag,
//	         associated data = the account name (the footer, decoded)
//
// The plaintext, all integers unsigned LEB128:
//
//	account id (u32) | grant type (1 byte) | issued at (u64) |
//	expiry (u64) | credential version (u64) | claims (UTF-8, rest, optional)
//
// Times are seconds since 2000-01-01T00:00:00Z (Unix 946684800). Grant
// type 0 is an access token; Stalwart accepts only those as bearer
// credentials (1 is a refresh token, 2..6 internal grants). The footer is
// omitted when the name is empty.
const (
	stalwartPrefix = "sw1."
	oauthEpoch     = 946684800
	grantAccess    = 0
	grantMax       = 6
)

func (v *Verifier) verifySW1(tok, rest string) (string, error) {
	if v.sw1 == nil {
		return "", ErrNotConfigured
	}
	body, footer, ok := strings.Cut(rest, ".")
	if !ok || footer == "" {
		// Sealed for an empty account name: nothing to route on.
		return "", fmt.Errorf("%w: sw1 token without account name", ErrNoAccount)
	}
	raw, ok := decodeSegment(body)
	if !ok || len(raw) < sivNonceSize+sivTagSize {
		return "", fmt.Errorf("%w: sw1 body", ErrMalformed)
	}
	name, ok := decodeSegment(footer)
	if !ok {
		return "", fmt.Errorf("%w: sw1 footer", ErrMalformed)
	}
	pt, err := v.sw1.Open(nil, raw[:sivNonceSize], raw[sivNonceSize:], name)
	if err != nil {
		return "", ErrSignature
	}
	st, ok := parseStalwartPlaintext(pt)
	clear(pt)
	if !ok {
		return "", fmt.Errorf("%w: sw1 plaintext", ErrMalformed)
	}
	if st.grant != grantAccess {
		return "", ErrGrant
	}
	now := v.now().Unix() - oauthEpoch
	if now < 0 {
		now = 0
	}
	n := uint64(now)
	leeway := uint64(v.leeway / time.Second)
	if st.expiry <= n && n-st.expiry >= leeway {
		return "", ErrExpired
	}
	if st.issuedAt > n && st.issuedAt-n > leeway {
		return "", fmt.Errorf("%w: issued in the future", ErrNotYetValid)
	}
	// The name is authenticated (associated data); it must also be the
	// account routing reads from this token, and a usable identifier.
	account, ok := identity.FromToken(tok, "")
	if !ok || account != string(name) {
		return "", ErrNoAccount
	}
	return account, nil
}

type stalwartToken struct {
	accountID         uint32
	grant             byte
	issuedAt, expiry  uint64
	credentialVersion uint64
	claims            string
}

// parseStalwartPlaintext reads the sealed fields. Stalwart writes minimal
// LEB128; longer encodings and values that overflow are refused.
func parseStalwartPlaintext(b []byte) (stalwartToken, bool) {
	var t stalwartToken
	id, b, ok := uleb128(b, 32)
	if !ok || len(b) == 0 {
		return t, false
	}
	t.accountID = uint32(id)
	t.grant, b = b[0], b[1:]
	if t.grant > grantMax {
		return t, false
	}
	if t.issuedAt, b, ok = uleb128(b, 64); !ok {
		return t, false
	}
	if t.expiry, b, ok = uleb128(b, 64); !ok {
		return t, false
	}
	if t.credentialVersion, b, ok = uleb128(b, 64); !ok {
		return t, false
	}
	if !utf8.Valid(b) {
		return t, false
	}
	t.claims = string(b)
	return t, true
}

// uleb128 decodes an unsigned LEB128 integer of at most width bits.
func uleb128(b []byte, width uint) (uint64, []byte, bool) {
	var v uint64
	for i, shift := 0, uint(0); i < len(b); i, shift = i+1, shift+7 {
		c := uint64(b[i] & 0x7f)
		if shift >= width || width-shift < 7 && c>>(width-shift) != 0 {
			return 0, nil, false
		}
		v |= c << shift
		if b[i]&0x80 == 0 {
			if i > 0 && c == 0 {
				return 0, nil, false // not minimal
			}
			return v, b[i+1:], true
		}
	}
	return 0, nil, false
}

// appendUleb128 is the encoder (tests build tokens with it).
func appendUleb128(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
