// Package verify checks OAuth bearer tokens at the edge, before a
// connection is routed: JWTs (JWS compact form) against a JWKS, and
// Stalwart "sw1." access tokens with Stalwart's shared OAuth key. A forged,
// expired or otherwise invalid token is refused here without touching a
// backend.
//
// It complements package identity, which only reads the account a token
// names: the account Verify returns is the one identity.FromToken reads from
// the same token, so routing and verification always agree. The backend
// still verifies the token itself; edge verification is a filter, not a
// replacement (see README.md for the threat model).
//
// Verify is CPU-only: it never does I/O and never blocks. A JWKS at a URL
// is fetched by a goroutine started with Start; an unknown key id asks that
// goroutine for an early refresh (at most once per
// limits.JWKSMinKickInterval) and is refused at once with ErrUnknownKey.
package verify

import (
	"cmp"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/identity"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
	"lukechampine.com/blake3"
)

// DefaultClaim is the claim read when Config.Claim is empty. The other
// defaults and bounds are limits named in package limits: OAuthLeeway,
// JWKSRefreshInterval, JWKSRetryInterval (the wait after a failed
// download when the refresh is longer), JWKSMinKickInterval (the
// refreshes unknown key ids can cause), JWKSFetchTimeout, MaxJWKSSize and
// MaxJWKSKeys.
const DefaultClaim = "email"

// Errors returned by Verify and New. Verify's errors may be wrapped with a
// fixed reason; test them with errors.Is. No error carries any part of the
// token, so they can be logged as they are.
var (
	// ErrMalformed: not a JWS compact token or an sw1 token, bad encoding,
	// longer than identity.MaxTokenLen, or a required claim (exp) missing or
	// of the wrong type.
	ErrMalformed = errors.New("verify: malformed token")
	// ErrAlgorithm: the JWS alg is not RS256, ES256 or EdDSA ("none" and
	// HS* are always refused), does not fit the key the kid names, or the
	// header has critical extensions.
	ErrAlgorithm = errors.New("verify: algorithm not allowed")
	// ErrUnknownKey: no key with the token's kid (or no kid and not
	// exactly one key). With a JWKS URL a refresh has been requested.
	ErrUnknownKey = errors.New("verify: unknown signing key")
	// ErrSignature: the signature or the sw1 seal does not verify (forged,
	// tampered or made with another key).
	ErrSignature = errors.New("verify: bad signature")
	// ErrExpired: exp (sw1: expiry) is past, leeway included.
	ErrExpired = errors.New("verify: token expired")
	// ErrNotYetValid: nbf or iat (sw1: issued-at) is in the future,
	// leeway included.
	ErrNotYetValid = errors.New("verify: token not yet valid")
	// ErrIssuer: iss is not the configured issuer.
	ErrIssuer = errors.New("verify: wrong issuer")
	// ErrAudience: aud does not contain the configured audience.
	ErrAudience = errors.New("verify: wrong audience")
	// ErrGrant: an sw1 token that is not an access token (a refresh token
	// or another of Stalwart's internal grants).
	ErrGrant = errors.New("verify: not an access token")
	// ErrNoAccount: the token is genuine but names no usable account.
	ErrNoAccount = errors.New("verify: no account in token")
	// ErrNotConfigured: nothing to check this kind of token with (no
	// JWKS for a JWT, no Stalwart key for an sw1 token). The caller
	// decides whether to refuse it or leave it to the backend.
	ErrNotConfigured = errors.New("verify: no key configured for this token type")
	// ErrConfig is wrapped by New's errors.
	ErrConfig = errors.New("verify: bad configuration")
)

// Config configures a Verifier. At least one of JWKSFile, JWKSURL and
// StalwartKey must be set.
type Config struct {
	// JWKSFile is a path to a JWKS document, read once by New.
	JWKSFile string
	// JWKSURL is an https URL of a JWKS, fetched by the goroutine Start
	// starts, every Refresh and on an unknown kid (at most once per
	// limits.JWKSMinKickInterval). Keys from JWKSFile and JWKSURL are used
	// together.
	JWKSURL string
	// Refresh is the JWKSURL refresh interval; 0 means limits.JWKSRefreshInterval.
	Refresh time.Duration
	// Issuer, when set, must equal the "iss" claim.
	Issuer string
	// Audience, when set, must be "aud" or one of its elements.
	Audience string
	// Leeway is the clock skew allowed for exp, nbf and iat (and sw1 times);
	// 0 means limits.OAuthLeeway.
	Leeway time.Duration
	// Claim is the JWT claim naming the account, tried before the
	// standard ones of package identity (email, preferred_username, upn,
	// unique_name, sub); empty means DefaultClaim.
	Claim string
	// StalwartKey is Stalwart's OAuth encryption key, byte for byte as
	// Stalwart has it (a trailing newline from a file is part of it unless
	// the loader strips it). When set, sw1 tokens must open with it.
	StalwartKey []byte
	// HTTPClient fetches JWKSURL; nil means a client with limits.JWKSFetchTimeout.
	// Redirects to anything but https are refused.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnRefresh, if set, is called from the refresh goroutine after each
	// JWKSURL download with the number of usable keys and the error, if
	// any (the previous keys stay in use on error). For logs and metrics.
	OnRefresh func(keys int, err error)
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	now      func() time.Time
	leeway   time.Duration
	issuer   string
	audience string
	claim    string

	sw1 cipher.AEAD // nil: no Stalwart key

	jwt      bool                   // a JWKS file or URL is configured
	keys     atomic.Pointer[keySet] // what Verify uses
	fileKeys []*jwk
	urlKeys  []*jwk // refresh goroutine only

	url       string
	client    *http.Client
	refresh   time.Duration
	onRefresh func(int, error)
	kick      chan struct{}
	lastKick  atomic.Int64 // Unix nanoseconds of the last kick, 0 = never
	startOnce sync.Once
	done      chan struct{} // closed when the refresh goroutine ends
}

// stalwartKeyContext is Stalwart's BLAKE3 derive_key context for sw1 token
// keys (TOKEN_KEY_CONTEXT in crates/common/src/auth/oauth/token.rs).
const stalwartKeyContext = "stalwart-oauth-token-sw1"

// New checks cfg, reads JWKSFile and derives the sw1 key. It does not
// fetch JWKSURL: call Start for that.
func New(cfg Config) (*Verifier, error) {
	if cfg.JWKSFile == "" && cfg.JWKSURL == "" && len(cfg.StalwartKey) == 0 {
		return nil, fmt.Errorf("%w: no JWKS file or URL and no Stalwart key", ErrConfig)
	}
	if cfg.Leeway < 0 || cfg.Refresh < 0 {
		return nil, fmt.Errorf("%w: negative leeway or refresh interval", ErrConfig)
	}
	v := &Verifier{
		now:       cfg.Now,
		leeway:    cfg.Leeway,
		issuer:    cfg.Issuer,
		audience:  cfg.Audience,
		claim:     cfg.Claim,
		refresh:   cfg.Refresh,
		onRefresh: cfg.OnRefresh,
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.leeway = cmp.Or(v.leeway, limits.OAuthLeeway)
	v.claim = cmp.Or(v.claim, DefaultClaim)
	v.refresh = cmp.Or(v.refresh, limits.JWKSRefreshInterval)
	if len(cfg.StalwartKey) > 0 {
		k := deriveKey(stalwartKeyContext, cfg.StalwartKey)
		c, err := newGCMSIV(k[:])
		clear(k[:])
		if err != nil {
			return nil, err
		}
		v.sw1 = c
	}
	if cfg.JWKSFile != "" {
		keys, err := readJWKSFile(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("%w: JWKS file: %w", ErrConfig, err)
		}
		v.fileKeys = keys
		v.jwt = true
	}
	if cfg.JWKSURL != "" {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("%w: JWKS URL must be an absolute https URL", ErrConfig)
		}
		v.url = u.String()
		v.client = httpsOnly(cfg.HTTPClient)
		v.jwt = true
	}
	v.publish()
	return v, nil
}

// deriveKey is BLAKE3's derive_key mode (Rust: blake3::derive_key(context,
// key_material)), 32 bytes of output.
func deriveKey(context string, material []byte) [32]byte {
	var k [32]byte
	blake3.DeriveKey(k[:], context, material)
	return k
}

func readJWKSFile(path string) ([]*jwk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limits.MaxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	keys, _, err := parseJWKS(data)
	return keys, err
}

// httpsOnly returns a copy of c (or a default client) that refuses
// redirects to anything but https.
func httpsOnly(c *http.Client) *http.Client {
	var cc http.Client
	if c != nil {
		cc = *c
	} else {
		cc.Timeout = limits.JWKSFetchTimeout
	}
	prev := cc.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return errors.New("JWKS redirect away from https")
		}
		if prev != nil {
			return prev(req, via)
		}
		if len(via) >= 5 {
			return errors.New("too many JWKS redirects")
		}
		return nil
	}
	return &cc
}

// Verify checks tok and returns the account it names. It does no I/O.
func (v *Verifier) Verify(tok string) (account string, err error) {
	if tok == "" {
		return "", fmt.Errorf("%w: empty", ErrMalformed)
	}
	if len(tok) > identity.MaxTokenLen {
		return "", fmt.Errorf("%w: longer than %d octets", ErrMalformed, identity.MaxTokenLen)
	}
	// Only the base64url alphabet and dots: Go's base64 decoder skips CR
	// and LF, which would let a token carry line breaks (and many
	// different spellings of one signed token) through verification.
	for i := 0; i < len(tok); i++ {
		if !isTokenByte(tok[i]) {
			return "", fmt.Errorf("%w: character outside base64url", ErrMalformed)
		}
	}
	if rest, ok := strings.CutPrefix(tok, stalwartPrefix); ok {
		return v.verifySW1(tok, rest)
	}
	return v.verifyJWT(tok)
}

func isTokenByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.'
}

// VerifyCredentials verifies the bearer token of OAUTHBEARER and XOAUTH2
// credentials and returns nil for every other mechanism. It does not
// compare the token's account with the a=/user= name the client sent;
// callers that route on the verified account should use Verify.
func (v *Verifier) VerifyCredentials(c sasl.Credentials) error {
	switch c.Mechanism {
	case sasl.OAuthBearer, sasl.XOAuth2:
		_, err := v.Verify(c.Token)
		return err
	}
	return nil
}

// Start starts the goroutine that fetches JWKSURL at once and then every
// Refresh or on request, until ctx ends. Without a JWKSURL it does
// nothing. Calls after the first are ignored.
func (v *Verifier) Start(ctx context.Context) {
	if v.url == "" {
		return
	}
	v.startOnce.Do(func() { go v.run(ctx) })
}

func (v *Verifier) run(ctx context.Context) {
	defer close(v.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-v.kick:
		}
		n, err := v.fetch(ctx)
		if ctx.Err() != nil {
			return
		}
		if v.onRefresh != nil {
			v.onRefresh(n, err)
		}
		next := v.refresh
		if err != nil && next > limits.JWKSRetryInterval {
			next = limits.JWKSRetryInterval
		}
		t.Reset(next)
	}
}

// requestRefresh asks the refresh goroutine for a download, without
// blocking and at most once per limits.JWKSMinKickInterval.
func (v *Verifier) requestRefresh() {
	if v.url == "" {
		return
	}
	now := v.now().UnixNano()
	last := v.lastKick.Load()
	if last != 0 && now-last < int64(limits.JWKSMinKickInterval) && now >= last {
		return
	}
	if !v.lastKick.CompareAndSwap(last, now) {
		return // another caller just did it
	}
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

func (v *Verifier) fetch(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, limits.JWKSFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("JWKS download: HTTP status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limits.MaxJWKSSize+1))
	if err != nil {
		return 0, fmt.Errorf("JWKS download: %w", err)
	}
	keys, _, err := parseJWKS(data)
	if err != nil {
		return 0, err
	}
	v.urlKeys = keys
	v.publish()
	return len(keys), nil
}

// publish makes the file and URL keys visible to Verify. Called by New and
// then only by the refresh goroutine.
func (v *Verifier) publish() {
	all := make([]*jwk, 0, len(v.fileKeys)+len(v.urlKeys))
	all = append(all, v.fileKeys...)
	all = append(all, v.urlKeys...)
	v.keys.Store(newKeySet(all))
}
