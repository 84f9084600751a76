package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudflare/circl/sign/ed448"
	"github.com/switchyard-mail/switchyard/identity"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

var testNow = time.Unix(1_800_000_000, 0)

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// signer signs JWS input for one alg and kid.
type signer struct {
	alg, kid string
	sign     func(input []byte) []byte
}

type fixture struct {
	rsa, rsaOther *rsa.PrivateKey
	ec, ecOther   *ecdsa.PrivateKey
	ed, edOther   ed25519.PrivateKey
	ed448         ed448.PrivateKey

	rs256, es256, eddsa, ed448s signer
	jwks                        []byte // the public keys above (not the "other" ones)
}

var getFixture = sync.OnceValue(func() *fixture {
	f := &fixture{}
	var err error
	if f.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if f.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if f.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if f.ecOther, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	// The EdDSA keys come from fixed seeds: FuzzVerify's worker processes
	// build their own fixture, and these tokens (deterministic signatures
	// over deterministic claims) must be the same in all of them.
	f.ed = ed25519.NewKeyFromSeed([]byte("switchyard verify test ed25519 k"))
	if _, f.edOther, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	f.ed448 = ed448.NewKeyFromSeed([]byte("switchyard verify test ed448 key seed, 57 bytes long!!!!!"))
	f.rs256 = rsaSigner("rsa1", f.rsa)
	f.es256 = ecSigner("ec1", f.ec)
	f.eddsa = edSigner("ed1", f.ed)
	f.ed448s = ed448Signer("ed448-1", f.ed448)
	f.jwks = jwksDoc(
		rsaJWK("rsa1", &f.rsa.PublicKey),
		ecJWK("ec1", &f.ec.PublicKey),
		okpJWK("ed1", "Ed25519", f.ed.Public().(ed25519.PublicKey)),
		okpJWK("ed448-1", "Ed448", f.ed448.Public().(ed448.PublicKey)),
	)
	return f
})

func rsaSigner(kid string, k *rsa.PrivateKey) signer {
	return signer{"RS256", kid, func(in []byte) []byte {
		h := sha256.Sum256(in)
		s, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		if err != nil {
			panic(err)
		}
		return s
	}}
}

func ecSigner(kid string, k *ecdsa.PrivateKey) signer {
	return signer{"ES256", kid, func(in []byte) []byte {
		h := sha256.Sum256(in)
		r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
		if err != nil {
			panic(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}}
}

func edSigner(kid string, k ed25519.PrivateKey) signer {
	return signer{"EdDSA", kid, func(in []byte) []byte { return ed25519.Sign(k, in) }}
}

func ed448Signer(kid string, k ed448.PrivateKey) signer {
	return signer{"EdDSA", kid, func(in []byte) []byte { return ed448.Sign(k, in, "") }}
}

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": enc(pub.N.Bytes()), "e": enc(big.NewInt(int64(pub.E)).Bytes())}
}

func ecJWK(kid string, pub *ecdsa.PublicKey) map[string]any {
	b, err := pub.Bytes()
	if err != nil {
		panic(err)
	}
	return map[string]any{"kty": "EC", "crv": "P-256", "kid": kid, "x": enc(b[1:33]), "y": enc(b[33:])}
}

func okpJWK(kid, crv string, x []byte) map[string]any {
	return map[string]any{"kty": "OKP", "crv": crv, "kid": kid, "x": enc(x)}
}

func jwksDoc(keys ...map[string]any) []byte {
	return mustJSON(map[string]any{"keys": keys})
}

// jws builds a compact JWS with the given header and claims.
func jws(s signer, hdr map[string]any, claims any) string {
	if hdr == nil {
		hdr = map[string]any{}
	}
	if _, ok := hdr["alg"]; !ok {
		hdr["alg"] = s.alg
	}
	if _, ok := hdr["kid"]; !ok && s.kid != "" {
		hdr["kid"] = s.kid
	}
	in := enc(mustJSON(hdr)) + "." + enc(mustJSON(claims))
	return in + "." + enc(s.sign([]byte(in)))
}

func claims(extra map[string]any) map[string]any {
	c := map[string]any{
		"iss":   "https://idp.example",
		"aud":   "switchyard",
		"iat":   testNow.Unix() - 10,
		"nbf":   testNow.Unix() - 10,
		"exp":   testNow.Unix() + 3600,
		"email": "alice@example.org",
		"sub":   "248289761001",
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func writeFile(t testing.TB, dir string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newJWTVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	if cfg.JWKSFile == "" && cfg.JWKSURL == "" {
		cfg.JWKSFile = writeFile(t, t.TempDir(), getFixture().jwks)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyJWTAlgorithms(t *testing.T) {
	f := getFixture()
	v := newJWTVerifier(t, Config{Issuer: "https://idp.example", Audience: "switchyard"})
	for _, s := range []signer{f.rs256, f.es256, f.eddsa, f.ed448s} {
		t.Run(s.kid, func(t *testing.T) {
			tok := jws(s, nil, claims(nil))
			got, err := v.Verify(tok)
			if err != nil || got != "alice@example.org" {
				t.Fatalf("Verify = %q, %v", got, err)
			}
			// The same account package identity routes on.
			if id, ok := identity.FromToken(tok, ""); !ok || id != got {
				t.Fatalf("FromToken = %q, %v", id, ok)
			}
		})
	}
}

func TestVerifyJWTAccountClaim(t *testing.T) {
	f := getFixture()
	cases := []struct {
		name, claim string
		extra       map[string]any
		want        string
		err         error
	}{
		{"email by default", "", nil, "alice@example.org", nil},
		{"configured claim", "mail", map[string]any{"mail": "m@example.org"}, "m@example.org", nil},
		{"configured claim missing falls back", "mail", nil, "alice@example.org", nil},
		{"falls back to preferred_username", "", map[string]any{"email": nil, "preferred_username": "al"}, "al", nil},
		{"falls back to sub", "", map[string]any{"email": nil}, "248289761001", nil},
		{"control characters fall through", "", map[string]any{"email": "a\r\nb"}, "248289761001", nil},
		{"no account", "", map[string]any{"email": nil, "sub": nil}, "", ErrNoAccount},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newJWTVerifier(t, Config{Claim: tc.claim})
			got, err := v.Verify(jws(f.eddsa, nil, claims(tc.extra)))
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("Verify = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func hs256(secret []byte, hdr, cl any) string {
	in := enc(mustJSON(hdr)) + "." + enc(mustJSON(cl))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + enc(m.Sum(nil))
}

func TestVerifyJWTRefused(t *testing.T) {
	f := getFixture()
	v := newJWTVerifier(t, Config{Issuer: "https://idp.example", Audience: "switchyard"})
	good := jws(f.eddsa, nil, claims(nil))
	parts := strings.Split(good, ".")

	// Algorithm confusion: HS256 keyed with the public key as published.
	rsaPub := mustJSON(rsaJWK("rsa1", &f.rsa.PublicKey))
	confused := hs256(rsaPub, map[string]any{"alg": "HS256", "kid": "rsa1"}, claims(nil))
	confusedN := hs256(f.rsa.PublicKey.N.Bytes(), map[string]any{"alg": "HS256", "kid": "rsa1"}, claims(nil))
	none := enc([]byte(`{"alg":"none","kid":"ed1"}`)) + "." + enc(mustJSON(claims(nil))) + "."
	noneSig := enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + "." + parts[2]

	// Non-canonical base64url: same signature bytes, different spelling.
	last := parts[2][len(parts[2])-1]
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	idx := strings.IndexByte(alphabet, last)
	nonCanonical := parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(alphabet[idx|1])
	if idx|1 == idx {
		nonCanonical = parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(alphabet[idx&^1])
	}

	// ES256 with a DER signature instead of R || S.
	esTok := jws(f.es256, nil, claims(nil))
	esIn := esTok[:strings.LastIndexByte(esTok, '.')]
	h := sha256.Sum256([]byte(esIn))
	der, _ := ecdsa.SignASN1(rand.Reader, f.ec, h[:])
	esDER := esIn + "." + enc(der)

	cases := []struct {
		name string
		tok  string
		err  error
	}{
		{"signed by another key, same kid", jws(edSigner("ed1", f.edOther), nil, claims(nil)), ErrSignature},
		{"RSA signed by another key", jws(rsaSigner("rsa1", f.rsaOther), nil, claims(nil)), ErrSignature},
		{"ES256 signed by another key", jws(ecSigner("ec1", f.ecOther), nil, claims(nil)), ErrSignature},
		{"Ed448 key named, Ed25519 signature", jws(edSigner("ed448-1", f.ed), nil, claims(nil)), ErrSignature},
		{"claims swapped", parts[0] + "." + enc(mustJSON(claims(map[string]any{"email": "mallory@example.org"}))) + "." + parts[2], ErrSignature},
		{"header swapped", enc([]byte(`{"alg":"EdDSA","kid":"ed1","x":1}`)) + "." + parts[1] + "." + parts[2], ErrSignature},
		{"signature truncated", good[:len(good)-2], ErrSignature}, // 63 bytes, canonical
		{"ES256 DER signature", esDER, ErrSignature},
		{"unknown kid", jws(edSigner("nope", f.ed), nil, claims(nil)), ErrUnknownKey},
		{"no kid, several keys", jws(edSigner("", f.ed), nil, claims(nil)), ErrUnknownKey},
		{"alg none", none, ErrAlgorithm},
		{"alg none with a signature", noneSig, ErrAlgorithm},
		{"HS256 with the JWK as secret", confused, ErrAlgorithm},
		{"HS256 with the modulus as secret", confusedN, ErrAlgorithm},
		{"RS512", jws(signer{"RS512", "rsa1", f.rs256.sign}, nil, claims(nil)), ErrAlgorithm},
		{"PS256", jws(signer{"PS256", "rsa1", f.rs256.sign}, nil, claims(nil)), ErrAlgorithm},
		{"RS256 naming the EC key", jws(signer{"RS256", "ec1", f.rs256.sign}, nil, claims(nil)), ErrAlgorithm},
		{"ES256 naming the RSA key", jws(signer{"ES256", "rsa1", f.es256.sign}, nil, claims(nil)), ErrAlgorithm},
		{"EdDSA naming the RSA key", jws(signer{"EdDSA", "rsa1", f.eddsa.sign}, nil, claims(nil)), ErrAlgorithm},
		{"critical extension", jws(f.eddsa, map[string]any{"crit": []string{"b64"}, "b64": false}, claims(nil)), ErrAlgorithm},
		{"expired", jws(f.eddsa, nil, claims(map[string]any{"exp": testNow.Unix() - 61})), ErrExpired},
		{"expired exactly at leeway", jws(f.eddsa, nil, claims(map[string]any{"exp": testNow.Unix() - 60})), ErrExpired},
		{"no exp", jws(f.eddsa, nil, claims(map[string]any{"exp": nil})), ErrMalformed},
		{"exp a string", jws(f.eddsa, nil, claims(map[string]any{"exp": "2100-01-01"})), ErrMalformed},
		{"exp null", jws(f.eddsa, nil, claims(map[string]any{"exp": json.RawMessage("null")})), ErrMalformed},
		{"not yet valid", jws(f.eddsa, nil, claims(map[string]any{"nbf": testNow.Unix() + 61})), ErrNotYetValid},
		{"issued in the future", jws(f.eddsa, nil, claims(map[string]any{"iat": testNow.Unix() + 61})), ErrNotYetValid},
		{"wrong issuer", jws(f.eddsa, nil, claims(map[string]any{"iss": "https://evil.example"})), ErrIssuer},
		{"no issuer", jws(f.eddsa, nil, claims(map[string]any{"iss": nil})), ErrIssuer},
		{"issuer not a string", jws(f.eddsa, nil, claims(map[string]any{"iss": []string{"https://idp.example"}})), ErrIssuer},
		{"wrong audience", jws(f.eddsa, nil, claims(map[string]any{"aud": "other"})), ErrAudience},
		{"audience array without ours", jws(f.eddsa, nil, claims(map[string]any{"aud": []string{"a", "b"}})), ErrAudience},
		{"no audience", jws(f.eddsa, nil, claims(map[string]any{"aud": nil})), ErrAudience},
		{"audience a number", jws(f.eddsa, nil, claims(map[string]any{"aud": 7})), ErrAudience},
		{"expired and forged", jws(edSigner("ed1", f.edOther), nil, claims(map[string]any{"exp": 1})), ErrSignature},
		{"non-canonical base64url", nonCanonical, ErrMalformed},
		{"padding", good + "==", ErrMalformed},
		{"line break", parts[0] + "." + parts[1] + "\r\n." + parts[2], ErrMalformed},
		{"two segments", parts[0] + "." + parts[1], ErrMalformed},
		{"four segments", good + ".x", ErrMalformed},
		{"JWE shape", parts[0] + ".a.b.c." + parts[2], ErrMalformed},
		{"empty signature", parts[0] + "." + parts[1] + ".", ErrMalformed},
		{"header not JSON", enc([]byte("nope")) + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"no alg", enc([]byte(`{"kid":"ed1"}`)) + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"kid not a string", enc([]byte(`{"alg":"EdDSA","kid":1}`)) + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"opaque token", "ya29.a0AfH6SMBx-opaque", ErrMalformed},
		{"empty", "", ErrMalformed},
		{"too long", good + strings.Repeat("A", identity.MaxTokenLen), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(tc.tok)
			if !errors.Is(err, tc.err) || got != "" {
				t.Fatalf("Verify = %q, %v; want %v", got, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), tc.tok) && tc.tok != "" {
				t.Fatalf("error %q quotes the token", err)
			}
		})
	}
	// Still accepted within the leeway, and the leeway is configurable.
	for name, tok := range map[string]string{
		"exp in the leeway": jws(f.eddsa, nil, claims(map[string]any{"exp": testNow.Unix() - 59})),
		"nbf in the leeway": jws(f.eddsa, nil, claims(map[string]any{"nbf": testNow.Unix() + 59})),
		"iat in the leeway": jws(f.eddsa, nil, claims(map[string]any{"iat": testNow.Unix() + 59})),
		"fractional exp":    jws(f.eddsa, nil, claims(map[string]any{"exp": float64(testNow.Unix()) + 0.5})),
		"audience in array": jws(f.eddsa, nil, claims(map[string]any{"aud": []string{"x", "switchyard"}})),
		"no nbf or iat":     jws(f.eddsa, nil, claims(map[string]any{"nbf": nil, "iat": nil})),
	} {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	strict := newJWTVerifier(t, Config{Leeway: time.Second})
	if _, err := strict.Verify(jws(f.eddsa, nil, claims(map[string]any{"exp": testNow.Unix() - 2}))); !errors.Is(err, ErrExpired) {
		t.Fatalf("1 s leeway: %v", err)
	}
}

func TestVerifyJWTSingleKeyWithoutKid(t *testing.T) {
	f := getFixture()
	dir := t.TempDir()
	doc := jwksDoc(okpJWK("", "Ed25519", f.ed.Public().(ed25519.PublicKey)))
	v := newJWTVerifier(t, Config{JWKSFile: writeFile(t, dir, doc)})
	tok := jws(edSigner("", f.ed), nil, claims(nil))
	if got, err := v.Verify(tok); err != nil || got != "alice@example.org" {
		t.Fatalf("Verify = %q, %v", got, err)
	}
	// A kid the set does not have is still unknown.
	if _, err := v.Verify(jws(edSigner("k", f.ed), nil, claims(nil))); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("kid against kid-less key: %v", err)
	}
}

func TestParseJWKS(t *testing.T) {
	f := getFixture()
	edX := f.ed.Public().(ed25519.PublicKey)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecBad := ecJWK("bad", &f.ec.PublicKey)
	ecBad["y"] = ecBad["x"] // not on the curve (overwhelmingly likely)
	withAlg := func(m map[string]any, k string, v any) map[string]any {
		c := map[string]any{}
		for a, b := range m {
			c[a] = b
		}
		c[k] = v
		return c
	}
	ed := okpJWK("ed", "Ed25519", edX)
	cases := []struct {
		name    string
		doc     []byte
		keys    int
		skipped int
		err     bool
	}{
		{"fixture", f.jwks, 4, 0, false},
		{"skips what it cannot use", jwksDoc(ed,
			withAlg(ed, "use", "enc"),
			withAlg(ed, "key_ops", []string{"encrypt"}),
			withAlg(ed, "alg", "RS256"),
			withAlg(ed, "crv", "X25519"),
			withAlg(ed, "x", "!!"),
			withAlg(ed, "x", enc(edX[:31])),
			withAlg(ed, "kid", 5),
			rsaJWK("small", &small.PublicKey),
			withAlg(rsaJWK("r", &f.rsa.PublicKey), "alg", "RS512"),
			withAlg(rsaJWK("r", &f.rsa.PublicKey), "e", enc([]byte{1, 0, 0, 0, 1})),
			withAlg(rsaJWK("r", &f.rsa.PublicKey), "e", enc([]byte{2})),
			ecBad,
			withAlg(ecJWK("e", &f.ec.PublicKey), "crv", "P-384"),
			map[string]any{"kty": "oct", "k": enc([]byte("secret"))},
		), 1, 14, false},
		{"key_ops with verify", jwksDoc(withAlg(ed, "key_ops", []string{"verify"})), 1, 0, false},
		{"fully specified alg", jwksDoc(withAlg(ed, "alg", "Ed25519")), 1, 0, false},
		{"nothing usable", jwksDoc(withAlg(ed, "use", "enc")), 0, 1, true},
		{"no keys", []byte(`{"keys":[]}`), 0, 0, true},
		{"keys not an array", []byte(`{"keys":{}}`), 0, 0, true},
		{"no keys member", []byte(`{"Keys":[]}`), 0, 0, true},
		{"not JSON", []byte(`<html>`), 0, 0, true},
		{"null", []byte(`null`), 0, 0, true},
		{"too many keys", jwksDoc(func() []map[string]any {
			var ks []map[string]any
			for i := 0; i <= limits.MaxJWKSKeys; i++ {
				ks = append(ks, okpJWK(fmt.Sprint(i), "Ed25519", edX))
			}
			return ks
		}()...), 0, 0, true},
		{"too large", append(jwksDoc(ed)[:1], append([]byte(`"pad":"`+strings.Repeat("x", limits.MaxJWKSSize)+`",`), jwksDoc(ed)[1:]...)...), 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, skipped, err := parseJWKS(tc.doc)
			if (err != nil) != tc.err || len(keys) != tc.keys || (!tc.err && skipped != tc.skipped) {
				t.Fatalf("parseJWKS = %d keys, %d skipped, %v", len(keys), skipped, err)
			}
		})
	}
	// Exactly limits.MaxJWKSKeys is fine.
	var ks []map[string]any
	for i := 0; i < limits.MaxJWKSKeys; i++ {
		ks = append(ks, okpJWK(fmt.Sprint(i), "Ed25519", edX))
	}
	if keys, _, err := parseJWKS(jwksDoc(ks...)); err != nil || len(keys) != limits.MaxJWKSKeys {
		t.Fatalf("%d keys: %v", len(keys), err)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"nothing":        {},
		"http URL":       {JWKSURL: "http://idp.example/jwks"},
		"relative URL":   {JWKSURL: "/jwks"},
		"missing file":   {JWKSFile: filepath.Join(dir, "missing.json")},
		"unusable file":  {JWKSFile: bad},
		"negative skew":  {StalwartKey: []byte("k"), Leeway: -time.Second},
		"negative timer": {StalwartKey: []byte("k"), Refresh: -time.Second},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: New = %v", name, err)
		}
	}
}

func TestNotConfigured(t *testing.T) {
	f := getFixture()
	onlySW1, err := New(Config{StalwartKey: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onlySW1.Verify(jws(f.eddsa, nil, claims(nil))); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("JWT without JWKS: %v", err)
	}
	onlyJWT := newJWTVerifier(t, Config{})
	tok := sealSW1([]byte("k"), sw1Fields(), "alice@example.org", nil)
	if _, err := onlyJWT.Verify(tok); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("sw1 without key: %v", err)
	}
}

func TestVerifyCredentials(t *testing.T) {
	f := getFixture()
	v := newJWTVerifier(t, Config{})
	good := jws(f.es256, nil, claims(nil))
	forged := jws(ecSigner("ec1", f.ecOther), nil, claims(nil))
	cases := []struct {
		c   sasl.Credentials
		err error
	}{
		{sasl.Credentials{Mechanism: sasl.Plain, Username: "u", Password: "p"}, nil},
		{sasl.Credentials{Mechanism: sasl.Login, Username: "u", Password: "p", Token: forged}, nil},
		{sasl.Credentials{Mechanism: sasl.OAuthBearer, Username: "alice@example.org", Token: good}, nil},
		{sasl.Credentials{Mechanism: sasl.XOAuth2, Username: "alice@example.org", Token: good}, nil},
		{sasl.Credentials{Mechanism: sasl.OAuthBearer, Token: forged}, ErrSignature},
		{sasl.Credentials{Mechanism: sasl.XOAuth2, Username: "alice@example.org", Token: forged}, ErrSignature},
		{sasl.Credentials{Mechanism: sasl.XOAuth2, Username: "alice@example.org"}, ErrMalformed},
	}
	for i, tc := range cases {
		if err := v.VerifyCredentials(tc.c); !errors.Is(err, tc.err) {
			t.Errorf("case %d (%s): %v, want %v", i, tc.c.Mechanism, err, tc.err)
		}
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type refreshResult struct {
	keys int
	err  error
}

func waitRefresh(t *testing.T, ch <-chan refreshResult) refreshResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no JWKS refresh")
	}
	return refreshResult{}
}

func noRefresh(t *testing.T, ch <-chan refreshResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("unexpected refresh %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
}

// jwksServer serves whatever doc holds, counting requests.
type jwksServer struct {
	*httptest.Server
	doc    atomic.Pointer[[]byte]
	status atomic.Int32
	hits   atomic.Int32
}

func newJWKSServer(t *testing.T, doc []byte) *jwksServer {
	s := &jwksServer{}
	s.doc.Store(&doc)
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://"+r.Host+"/jwks", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(int(s.status.Load()))
		_, _ = w.Write(*s.doc.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func TestJWKSURLRotation(t *testing.T) {
	f := getFixture()
	_, edB, _ := ed25519.GenerateKey(rand.Reader)
	docA := jwksDoc(okpJWK("A", "Ed25519", f.ed.Public().(ed25519.PublicKey)))
	docB := jwksDoc(okpJWK("B", "Ed25519", edB.Public().(ed25519.PublicKey)))
	srv := newJWKSServer(t, docA)
	clock := newFakeClock(testNow)
	v, results := newURLVerifier(t, srv, "/jwks", Config{Now: clock.Now}, 16)
	tokA := jws(edSigner("A", f.ed), nil, claims(nil))
	tokB := jws(edSigner("B", edB), nil, claims(nil))

	// Before the first download nothing verifies, and nothing blocks.
	if _, err := v.Verify(tokA); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("before Start: %v", err)
	}
	// That Verify asked for a download; the first one below answers it.
	// Taken back here, or the refresh goroutine would do a second one
	// (or not: select picks at random between it and the first timer),
	// and no wait could tell when it is over.
	select {
	case <-v.kick:
	default:
		t.Fatal("a Verify with an unknown kid before Start asked for no download")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v.Start(ctx)
	v.Start(ctx) // ignored
	// The first download, the only one until a kick.
	if r := waitRefresh(t, results); r.err != nil || r.keys != 1 {
		t.Fatalf("first refresh: %+v", r)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := v.Verify(tokA); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("key A never usable: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	clock.Advance(limits.JWKSMinKickInterval)

	// Rotation: the provider now publishes only B.
	srv.doc.Store(&docB)
	if _, err := v.Verify(tokB); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("new kid before refresh: %v", err)
	}
	if r := waitRefresh(t, results); r.err != nil || r.keys != 1 {
		t.Fatalf("kicked refresh: %+v", r)
	}
	if got, err := v.Verify(tokB); err != nil || got != "alice@example.org" {
		t.Fatalf("new kid after refresh: %q, %v", got, err)
	}
	if _, err := v.Verify(tokA); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired kid: %v", err)
	}
	// That unknown kid came within limits.JWKSMinKickInterval of the last kick: no
	// download, however many tokens ask.
	before := srv.hits.Load()
	for i := 0; i < 50; i++ {
		_, _ = v.Verify(jws(edSigner(fmt.Sprint("x", i), f.ed), nil, claims(nil)))
	}
	noRefresh(t, results)
	if srv.hits.Load() != before {
		t.Fatalf("%d downloads inside the rate limit", srv.hits.Load()-before)
	}
	// After it, one more.
	clock.Advance(limits.JWKSMinKickInterval)
	_, _ = v.Verify(tokA)
	_, _ = v.Verify(tokA)
	if r := waitRefresh(t, results); r.err != nil {
		t.Fatalf("second kick: %+v", r)
	}
	noRefresh(t, results)

	// A failing download keeps the keys.
	srv.status.Store(http.StatusInternalServerError)
	clock.Advance(limits.JWKSMinKickInterval)
	_, _ = v.Verify(tokA)
	if r := waitRefresh(t, results); r.err == nil {
		t.Fatal("HTTP 500 accepted")
	}
	if _, err := v.Verify(tokB); err != nil {
		t.Fatalf("keys lost after a failed refresh: %v", err)
	}
	// So do an oversized and an unusable document.
	srv.status.Store(http.StatusOK)
	big := []byte(`{"keys":[],"pad":"` + strings.Repeat("x", limits.MaxJWKSSize) + `"}`)
	for _, doc := range [][]byte{big, []byte(`{"keys":[]}`), []byte("not json")} {
		srv.doc.Store(&doc)
		clock.Advance(limits.JWKSMinKickInterval)
		_, _ = v.Verify(tokA)
		if r := waitRefresh(t, results); r.err == nil {
			t.Fatalf("bad document accepted: %+v", r)
		}
		if _, err := v.Verify(tokB); err != nil {
			t.Fatalf("keys lost after a bad document: %v", err)
		}
	}

	cancel()
	select {
	case <-v.done:
	case <-time.After(5 * time.Second):
		t.Fatal("refresh goroutine did not stop")
	}
}

func TestJWKSURLPeriodicRefresh(t *testing.T) {
	f := getFixture()
	srv := newJWKSServer(t, f.jwks)
	v, results := newURLVerifier(t, srv, "/jwks", Config{Refresh: 20 * time.Millisecond}, 64)
	ctx, cancel := context.WithCancel(context.Background())
	v.Start(ctx)
	for i := 0; i < 3; i++ {
		if r := waitRefresh(t, results); r.err != nil || r.keys != 4 {
			t.Fatalf("refresh %d: %+v", i, r)
		}
	}
	cancel()
	<-v.done
}

func TestJWKSURLRedirectToHTTP(t *testing.T) {
	f := getFixture()
	srv := newJWKSServer(t, f.jwks)
	v, results := newURLVerifier(t, srv, "/redirect", Config{}, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v.Start(ctx)
	if r := waitRefresh(t, results); r.err == nil || !strings.Contains(r.err.Error(), "redirect away from https") {
		t.Fatalf("redirect to http: %+v", r)
	}
}

// sw1Fields is a fresh access token's plaintext at testNow.
func sw1Fields() stalwartToken {
	iat := uint64(testNow.Unix() - oauthEpoch - 5)
	return stalwartToken{accountID: 42, grant: grantAccess, issuedAt: iat, expiry: iat + 3600}
}

func stalwartPlaintext(st stalwartToken) []byte {
	var pt []byte
	pt = appendUleb128(pt, uint64(st.accountID))
	pt = append(pt, st.grant)
	pt = appendUleb128(pt, st.issuedAt)
	pt = appendUleb128(pt, st.expiry)
	pt = appendUleb128(pt, st.credentialVersion)
	return append(pt, st.claims...)
}

// sealSW1 builds a token as Stalwart's seal_token does; nonce nil means
// random.
func sealSW1(key []byte, st stalwartToken, name string, nonce []byte) string {
	return sealSW1Raw(key, stalwartPlaintext(st), name, nonce)
}

func sealSW1Raw(key, pt []byte, name string, nonce []byte) string {
	k := deriveKey(stalwartKeyContext, key)
	g, err := newGCMSIV(k[:])
	if err != nil {
		panic(err)
	}
	if nonce == nil {
		nonce = make([]byte, sivNonceSize)
		_, _ = rand.Read(nonce)
	}
	body := g.Seal(append([]byte(nil), nonce...), nonce, pt, []byte(name))
	tok := "sw1." + enc(body)
	if name != "" {
		tok += "." + enc([]byte(name))
	}
	return tok
}

func TestStalwartLayout(t *testing.T) {
	// Stalwart's own test token: account 42, access token, issued 1000,
	// expiry 2000, credential version 0.
	st := stalwartToken{accountID: 42, grant: 0, issuedAt: 1000, expiry: 2000}
	pt := stalwartPlaintext(st)
	if got := fmt.Sprintf("%x", pt); got != "2a00e807d00f00" {
		t.Fatalf("plaintext = %s", got)
	}
	back, ok := parseStalwartPlaintext(append(pt, "a;b"...))
	if !ok || back.accountID != 42 || back.issuedAt != 1000 || back.expiry != 2000 || back.claims != "a;b" {
		t.Fatalf("parse = %+v, %v", back, ok)
	}
	maxed := stalwartToken{accountID: 1<<32 - 1, grant: 5, issuedAt: 1<<64 - 1, expiry: 1<<64 - 1, credentialVersion: 1<<64 - 1}
	if back, ok := parseStalwartPlaintext(stalwartPlaintext(maxed)); !ok || back != maxed {
		t.Fatalf("max values: %+v, %v", back, ok)
	}
	for name, b := range map[string]string{
		"empty":                 "",
		"no grant":              "2a",
		"unknown grant":         "2a07e807d00f00",
		"u32 overflow":          "ffffffff1f00e807d00f00",
		"u32 six bytes":         "ffffffff8f0000e807d00f00",
		"u64 overflow":          "2a00ffffffffffffffffff02d00f00",
		"not minimal":           "aa0000e807d00f00",
		"truncated LEB128":      "2a00e807d08f",
		"no credential version": "2a00e807d00f",
		"claims not UTF-8":      "2a00e807d00f00ff",
	} {
		raw, err := hex.DecodeString(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := parseStalwartPlaintext(raw); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The key derivation is BLAKE3 derive_key(context, material): checked
// against the official BLAKE3 test vector (input of one zero byte) so the
// argument order cannot be swapped unnoticed.
func TestDeriveKey(t *testing.T) {
	k := deriveKey("BLAKE3 2019-12-27 16:29:52 test vectors context", []byte{0})
	if got := fmt.Sprintf("%x", k); got != "b3e2e340a117a499c6cf2398a19ee0d29cca2bb7404c73063382693bf66cb06c" {
		t.Fatalf("derive_key = %s", got)
	}
}

func TestVerifySW1(t *testing.T) {
	key := []byte("a-test-encryption-key-of-some-length")
	v, err := New(Config{StalwartKey: key, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	good := sealSW1(key, sw1Fields(), "alice@example.org", nil)
	if got, err := v.Verify(good); err != nil || got != "alice@example.org" {
		t.Fatalf("Verify = %q, %v", got, err)
	}
	withClaims := sw1Fields()
	withClaims.claims, withClaims.credentialVersion = "attendee@x.org;7", 0xdeadbeef
	if got, err := v.Verify(sealSW1(key, withClaims, "名字@example.org", nil)); err != nil || got != "名字@example.org" {
		t.Fatalf("with claims: %q, %v", got, err)
	}

	body, footer, _ := strings.Cut(strings.TrimPrefix(good, "sw1."), ".")
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return "sw1." + enc(b) + "." + footer
	}
	other := sealSW1(key, sw1Fields(), "bob@example.org", nil)
	_, otherFooter, _ := strings.Cut(strings.TrimPrefix(other, "sw1."), ".")
	at := func(mut func(*stalwartToken)) string {
		st := sw1Fields()
		mut(&st)
		return sealSW1(key, st, "alice@example.org", nil)
	}
	now := uint64(testNow.Unix() - oauthEpoch)
	cases := []struct {
		name, tok string
		err       error
	}{
		{"tampered footer", "sw1." + body + "." + enc([]byte("mallory@example.org")), ErrSignature},
		{"swapped footer", "sw1." + body + "." + otherFooter, ErrSignature},
		{"wrong key", sealSW1([]byte("a-different-encryption-key-entirely!"), sw1Fields(), "alice@example.org", nil), ErrSignature},
		{"key with a trailing newline", sealSW1(append(append([]byte(nil), key...), '\n'), sw1Fields(), "alice@example.org", nil), ErrSignature},
		{"flipped nonce", flip(0), ErrSignature},
		{"flipped ciphertext", flip(sivNonceSize), ErrSignature},
		{"flipped tag", flip(len(raw) - 1), ErrSignature},
		{"truncated body", "sw1." + enc(raw[:len(raw)-1]) + "." + footer, ErrSignature},
		{"body shorter than nonce and tag", "sw1." + enc(raw[:27]) + "." + footer, ErrMalformed},
		{"expired", at(func(s *stalwartToken) { s.expiry = now - 61 }), ErrExpired},
		{"expired at the leeway", at(func(s *stalwartToken) { s.expiry = now - 60 }), ErrExpired},
		{"issued in the future", at(func(s *stalwartToken) { s.issuedAt = now + 61; s.expiry = now + 3600 }), ErrNotYetValid},
		{"refresh token", at(func(s *stalwartToken) { s.grant = 1 }), ErrGrant},
		{"rsvp grant", at(func(s *stalwartToken) { s.grant = 5 }), ErrGrant},
		{"no footer", sealSW1(key, sw1Fields(), "", nil), ErrNoAccount},
		{"empty footer", strings.TrimSuffix(good, footer), ErrNoAccount},
		{"footer with CRLF", sealSW1(key, sw1Fields(), "a@b\r\nA1 LOGOUT", nil), ErrNoAccount},
		{"sealed name with control char", sealSW1(key, sw1Fields(), "a\x01b", nil), ErrNoAccount},
		{"bad plaintext", sealSW1Raw(key, []byte{0x2a}, "alice@example.org", nil), ErrMalformed},
		{"footer not base64url", "sw1." + body + ".!!", ErrMalformed},
		{"extra segment", good + ".x", ErrMalformed},
		{"non-canonical footer", "sw1." + body + "." + footer[:len(footer)-1] + "x", ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(tc.tok)
			if !errors.Is(err, tc.err) || got != "" {
				t.Fatalf("Verify = %q, %v; want %v", got, err, tc.err)
			}
		})
	}
	for name, tok := range map[string]string{
		"expiry in the leeway": at(func(s *stalwartToken) { s.expiry = now - 59 }),
		"issued in the leeway": at(func(s *stalwartToken) { s.issuedAt = now + 59; s.expiry = now + 3600 }),
	} {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzVerify: no panic on any input, and nothing is accepted that the
// test did not sign (with the account it signed for). Each fuzzing worker
// process builds its own fixture: the RSA and P-256 keys differ between
// processes (so those seeds only verify where they were made), the EdDSA
// keys and the sw1 seeds are deterministic and verify everywhere.
func FuzzVerify(f *testing.F) {
	fx := getFixture()
	key := []byte("fuzz-stalwart-key")
	v := newFileVerifier(f, fx.jwks, key, "")
	signed := map[string]string{}
	add := func(tok, account string) {
		signed[tok] = account
		f.Add(tok)
	}
	for _, s := range []signer{fx.rs256, fx.es256, fx.eddsa, fx.ed448s} {
		add(jws(s, nil, claims(nil)), "alice@example.org")
		add(jws(s, nil, claims(map[string]any{"email": nil, "preferred_username": "p"})), "p")
	}
	add(sealSW1(key, sw1Fields(), "alice@example.org", make([]byte, 12)), "alice@example.org")
	add(sealSW1(key, sw1Fields(), "x", []byte("fixed nonce!")), "x")
	// Unsigned seeds: near misses.
	good := jws(fx.eddsa, nil, claims(nil))
	p := strings.Split(good, ".")
	f.Add(enc([]byte(`{"alg":"none"}`)) + "." + p[1] + ".")
	f.Add(p[0] + "." + p[1] + "." + p[2][:len(p[2])-1] + "B")
	f.Add("sw1." + strings.Repeat("A", 40) + "." + enc([]byte("a@b")))
	f.Add("sw1...")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := v.Verify(tok)
		if err != nil {
			if got != "" {
				t.Fatalf("error %v with account %q", err, got)
			}
			return
		}
		want, ok := signed[tok]
		if !ok {
			t.Fatalf("accepted a token the test did not sign: %q", tok)
		}
		if got != want {
			t.Fatalf("account %q, signed for %q", got, want)
		}
	})
}

// FuzzParseJWKS: arbitrary documents never panic, and every key returned
// is usable.
func FuzzParseJWKS(f *testing.F) {
	f.Add(getFixture().jwks)
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed448","x":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, _, err := parseJWKS(doc)
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no keys")
		}
		for _, k := range keys {
			if !k.fits(algRS256) && !k.fits(algES256) && !k.fits(algEdDSA) {
				t.Fatalf("unusable key %+v", k)
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	fx := getFixture()
	key := []byte("bench-stalwart-key")
	v := newFileVerifier(b, fx.jwks, key, "switchyard")
	toks := []struct{ name, tok string }{
		{"RS256", jws(fx.rs256, nil, claims(nil))},
		{"ES256", jws(fx.es256, nil, claims(nil))},
		{"EdDSA-Ed25519", jws(fx.eddsa, nil, claims(nil))},
		{"EdDSA-Ed448", jws(fx.ed448s, nil, claims(nil))},
		{"sw1", sealSW1(key, sw1Fields(), "alice@example.org", nil)},
		{"forged-Ed25519", jws(edSigner("ed1", fx.edOther), nil, claims(nil))},
	}
	for _, tc := range toks {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, err := v.Verify(tc.tok)
				if err != nil && !strings.HasPrefix(tc.name, "forged") {
					b.Fatal(err)
				}
			}
		})
	}
}

// newURLVerifier makes a Verifier from cfg that fetches srv's path as its
// JWKS URL and reports each refresh on results (buffered n).
func newURLVerifier(t *testing.T, srv *jwksServer, path string, cfg Config, n int) (v *Verifier, results chan refreshResult) {
	t.Helper()
	results = make(chan refreshResult, n)
	cfg.JWKSURL, cfg.HTTPClient = srv.URL+path, srv.Client()
	cfg.OnRefresh = func(n int, err error) { results <- refreshResult{n, err} }
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v, results
}

// newFileVerifier makes a Verifier at testNow from a JWKS file holding
// jwks and the Stalwart key, for issuer https://idp.example and audience
// (none when empty).
func newFileVerifier(tb testing.TB, jwks, key []byte, audience string) *Verifier {
	tb.Helper()
	v, err := New(Config{
		JWKSFile:    writeFile(tb, tb.TempDir(), jwks),
		StalwartKey: key,
		Issuer:      "https://idp.example",
		Audience:    audience,
		Now:         func() time.Time { return testNow },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
