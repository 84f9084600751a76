package verify

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard-mail/switchyard/identity"
)

// b64 is base64url without padding, refusing non-zero trailing bits so
// that every byte string has exactly one spelling. (It still skips CR and
// LF: Verify refuses those before decoding.)
var b64 = base64.RawURLEncoding.Strict()

func decodeSegment(s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '.' || !isTokenByte(c) {
			return nil, false
		}
	}
	b, err := b64.DecodeString(s)
	return b, err == nil
}

// decodeObject decodes a base64url segment holding a JSON object. Members
// are read by exact name (encoding/json matches struct fields without
// regard to case; a map does not).
func decodeObject(s string) (map[string]json.RawMessage, bool) {
	raw, ok := decodeSegment(s)
	if !ok {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

func (v *Verifier) verifyJWT(tok string) (string, error) {
	if !v.jwt {
		return "", ErrNotConfigured
	}
	// Exactly three segments: a JWE has five and is not a signed token.
	h, rest, ok1 := strings.Cut(tok, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") || h == "" || p == "" {
		return "", fmt.Errorf("%w: not a JWS compact token", ErrMalformed)
	}
	hdr, ok := decodeObject(h)
	if !ok {
		return "", fmt.Errorf("%w: JWS header", ErrMalformed)
	}
	alg, present, ok := jsonString(hdr, "alg")
	if !ok || !present {
		return "", fmt.Errorf("%w: JWS header without alg", ErrMalformed)
	}
	switch alg {
	case algRS256, algES256, algEdDSA:
	default:
		return "", ErrAlgorithm
	}
	// RFC 7515 section 4.1.11: an extension this code does not know
	// (b64=false, say) must make the token invalid.
	if _, ok := hdr["crit"]; ok {
		return "", fmt.Errorf("%w: critical header extension", ErrAlgorithm)
	}
	kid, hasKid, ok := jsonString(hdr, "kid")
	if !ok {
		return "", fmt.Errorf("%w: kid not a string", ErrMalformed)
	}
	sig, ok := decodeSegment(s)
	if !ok || len(sig) == 0 {
		return "", fmt.Errorf("%w: JWS signature", ErrMalformed)
	}

	ks := v.keys.Load()
	var cands []*jwk
	if hasKid {
		cands = ks.byKid[kid]
	} else if len(ks.all) == 1 {
		cands = ks.all
	}
	if len(cands) == 0 {
		if hasKid || len(ks.all) == 0 {
			v.requestRefresh()
		}
		return "", ErrUnknownKey
	}
	input := tok[:len(h)+1+len(p)]
	fits, good := false, false
	for _, k := range cands {
		if !k.fits(alg) {
			continue
		}
		fits = true
		if k.verify(input, sig) {
			good = true
			break
		}
	}
	if !fits {
		return "", fmt.Errorf("%w: alg does not match the key", ErrAlgorithm)
	}
	if !good {
		return "", ErrSignature
	}

	// Genuine: now the claims.
	claims, ok := decodeObject(p)
	if !ok {
		return "", fmt.Errorf("%w: JWT claims", ErrMalformed)
	}
	if err := v.checkTimes(claims); err != nil {
		return "", err
	}
	if v.issuer != "" {
		iss, _, ok := jsonString(claims, "iss")
		if !ok || iss != v.issuer {
			return "", ErrIssuer
		}
	}
	if v.audience != "" && !hasAudience(claims["aud"], v.audience) {
		return "", ErrAudience
	}
	// The same reading as routing, so that the account verified is the
	// account routed on.
	account, ok := identity.FromToken(tok, v.claim)
	if !ok {
		return "", ErrNoAccount
	}
	return account, nil
}

// checkTimes applies exp (required), nbf and iat (RFC 7519 section 4.1)
// with the leeway.
func (v *Verifier) checkTimes(claims map[string]json.RawMessage) error {
	now := float64(v.now().UnixNano()) / float64(time.Second)
	leeway := v.leeway.Seconds()
	exp, present, ok := numericDate(claims, "exp")
	if !present {
		return fmt.Errorf("%w: no exp claim", ErrMalformed)
	}
	if !ok {
		return fmt.Errorf("%w: exp not a number", ErrMalformed)
	}
	if now >= exp+leeway {
		return ErrExpired
	}
	nbf, present, ok := numericDate(claims, "nbf")
	if present && !ok {
		return fmt.Errorf("%w: nbf not a number", ErrMalformed)
	}
	if present && now+leeway < nbf {
		return ErrNotYetValid
	}
	iat, present, ok := numericDate(claims, "iat")
	if present && !ok {
		return fmt.Errorf("%w: iat not a number", ErrMalformed)
	}
	if present && iat > now+leeway {
		return fmt.Errorf("%w: issued in the future", ErrNotYetValid)
	}
	return nil
}

// numericDate reads a NumericDate claim: a JSON number of seconds,
// possibly fractional.
func numericDate(m map[string]json.RawMessage, name string) (t float64, present, ok bool) {
	raw, present := m[name]
	if !present {
		return 0, false, true
	}
	var f *float64
	if err := json.Unmarshal(raw, &f); err != nil || f == nil {
		return 0, true, false
	}
	return *f, true, true
}

// hasAudience: aud is a string or an array of strings (RFC 7519 section
// 4.1.3) containing want.
func hasAudience(raw json.RawMessage, want string) bool {
	if raw == nil {
		return false
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil && string(raw) != "null" {
		return one == want
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return false
	}
	for _, a := range many {
		if a == want {
			return true
		}
	}
	return false
}
