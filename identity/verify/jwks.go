package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/cloudflare/circl/sign/ed448"

	"github.com/switchyard-mail/switchyard/limits"
)

// JWS algorithms accepted (RFC 7518, RFC 8037). Anything else, "none" and
// the HMAC algorithms included, is refused before a key is looked at.
const (
	algRS256 = "RS256"
	algES256 = "ES256"
	algEdDSA = "EdDSA"
)

// RSA moduli outside these bounds are skipped: smaller ones are weak,
// larger ones only make verification slow.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

type keyKind uint8

const (
	kindRSA keyKind = iota + 1
	kindP256
	kindEd25519
	kindEd448
)

// jwk is one usable verification key.
type jwk struct {
	kid    string
	hasKid bool
	kind   keyKind
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
	ed     []byte // Ed25519 or Ed448 public key
}

// fits reports whether the key can verify the JWS alg. The key's type
// decides (an RSA key never verifies ES256 or EdDSA, whatever the token
// says): the JWK's own "alg", when it had one, was checked when the key
// was parsed.
func (k *jwk) fits(alg string) bool {
	switch alg {
	case algRS256:
		return k.kind == kindRSA
	case algES256:
		return k.kind == kindP256
	case algEdDSA:
		return k.kind == kindEd25519 || k.kind == kindEd448
	}
	return false
}

// verify checks a JWS signature over input. alg has been matched with
// fits.
func (k *jwk) verify(input string, sig []byte) bool {
	switch k.kind {
	case kindRSA:
		h := sha256.Sum256([]byte(input))
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, h[:], sig) == nil
	case kindP256:
		// JWS carries R || S, 32 octets each (RFC 7518 section 3.4),
		// not DER.
		if len(sig) != 64 {
			return false
		}
		h := sha256.Sum256([]byte(input))
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, h[:], r, s)
	case kindEd25519:
		return len(sig) == ed25519.SignatureSize &&
			ed25519.Verify(ed25519.PublicKey(k.ed), []byte(input), sig)
	case kindEd448:
		// RFC 8037: pure Ed448 with an empty context.
		return len(sig) == ed448.SignatureSize &&
			ed448.Verify(ed448.PublicKey(k.ed), []byte(input), sig, "")
	}
	return false
}

// keySet is an immutable snapshot of the usable keys.
type keySet struct {
	all   []*jwk
	byKid map[string][]*jwk
}

func newKeySet(keys []*jwk) *keySet {
	ks := &keySet{all: keys, byKid: make(map[string][]*jwk, len(keys))}
	for _, k := range keys {
		if k.hasKid {
			ks.byKid[k.kid] = append(ks.byKid[k.kid], k)
		}
	}
	return ks
}

var errNoUsableKeys = errors.New("JWKS has no usable signature key")

// parseJWKS reads a JWKS document (RFC 7517 section 5). Keys this package
// cannot use are skipped and counted: other key types and curves, keys
// for encryption ("use" other than "sig", "key_ops" without "verify"),
// keys whose "alg" is not one accepted here or does not match the key,
// RSA moduli outside 2048..8192 bits, and keys that do not decode (bad
// base64url, a point not on the curve). The document is refused when it
// is larger than limits.MaxJWKSSize, has more than limits.MaxJWKSKeys
// keys, is not JSON, or leaves no usable key.
func parseJWKS(data []byte) (keys []*jwk, skipped int, err error) {
	if len(data) > limits.MaxJWKSSize {
		return nil, 0, fmt.Errorf("JWKS larger than %d octets", limits.MaxJWKSSize)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil || doc == nil {
		return nil, 0, errors.New("JWKS is not a JSON object")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(doc["keys"], &raw); err != nil || raw == nil {
		return nil, 0, errors.New(`JWKS has no "keys" array`)
	}
	if len(raw) > limits.MaxJWKSKeys {
		return nil, 0, fmt.Errorf("JWKS has more than %d keys", limits.MaxJWKSKeys)
	}
	for _, r := range raw {
		k, ok := parseJWK(r)
		if !ok {
			skipped++
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, errNoUsableKeys
	}
	return keys, skipped, nil
}

func parseJWK(raw json.RawMessage) (*jwk, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	if use, present, ok := jsonString(m, "use"); !ok || present && use != "sig" {
		return nil, false
	}
	if ops, present := m["key_ops"]; present {
		var list []string
		if err := json.Unmarshal(ops, &list); err != nil {
			return nil, false
		}
		verify := false
		for _, op := range list {
			verify = verify || op == "verify"
		}
		if !verify {
			return nil, false
		}
	}
	kid, hasKid, ok := jsonString(m, "kid")
	if !ok {
		return nil, false
	}
	alg, hasAlg, ok := jsonString(m, "alg")
	if !ok {
		return nil, false
	}
	kty, _, _ := jsonString(m, "kty")
	crv, _, _ := jsonString(m, "crv")
	k := &jwk{kid: kid, hasKid: hasKid}
	switch {
	case kty == "RSA":
		if hasAlg && alg != algRS256 {
			return nil, false
		}
		n, ok1 := jsonB64(m, "n")
		e, ok2 := jsonB64(m, "e")
		if !ok1 || !ok2 || len(e) == 0 || len(e) > 4 || len(n) == 0 || n[0] == 0 {
			return nil, false
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n)}
		for _, b := range e {
			pub.E = pub.E<<8 | int(b)
		}
		if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits ||
			pub.E < 3 || pub.E&1 == 0 || pub.E > 1<<31-1 {
			return nil, false
		}
		k.kind, k.rsa = kindRSA, pub
	case kty == "EC" && crv == "P-256":
		if hasAlg && alg != algES256 {
			return nil, false
		}
		x, ok1 := jsonB64(m, "x")
		y, ok2 := jsonB64(m, "y")
		if !ok1 || !ok2 || len(x) != 32 || len(y) != 32 {
			return nil, false
		}
		pt := make([]byte, 0, 65)
		pt = append(pt, 4)
		pt = append(append(pt, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
		if err != nil {
			return nil, false
		}
		k.kind, k.ec = kindP256, pub
	case kty == "OKP" && (crv == "Ed25519" || crv == "Ed448"):
		// "EdDSA" (RFC 8037) or the fully specified name (RFC 9864).
		if hasAlg && alg != algEdDSA && alg != crv {
			return nil, false
		}
		x, ok := jsonB64(m, "x")
		if !ok {
			return nil, false
		}
		switch {
		case crv == "Ed25519" && len(x) == ed25519.PublicKeySize:
			k.kind = kindEd25519
		case crv == "Ed448" && len(x) == ed448.PublicKeySize:
			k.kind = kindEd448
		default:
			return nil, false
		}
		k.ed = x
	default:
		return nil, false
	}
	return k, true
}

// jsonString reads an optional string member: ok is false when it is
// present but not a string.
func jsonString(m map[string]json.RawMessage, name string) (s string, present, ok bool) {
	raw, present := m[name]
	if !present {
		return "", false, true
	}
	if err := json.Unmarshal(raw, &s); err != nil || string(raw) == "null" {
		return "", true, false
	}
	return s, true, true
}

// jsonB64 reads a required base64url (unpadded, canonical) member.
func jsonB64(m map[string]json.RawMessage, name string) ([]byte, bool) {
	s, present, ok := jsonString(m, name)
	if !present || !ok {
		return nil, false
	}
	return decodeSegment(s)
}
