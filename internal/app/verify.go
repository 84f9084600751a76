package app

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/identity/verify"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// newVerifier builds the edge verifier of [oauth] when verify = true.
func (a *App) newVerifier(o config.OAuth) (*verify.Verifier, error) {
	if !o.Verify {
		return nil, nil
	}
	cfg := verify.Config{
		JWKSFile: o.JWKSFile, JWKSURL: o.JWKSURL, Issuer: o.Issuer, Audience: o.Audience,
		Leeway: o.Leeway.D(), Claim: o.JWTUsernameClaim,
		OnRefresh: func(keys int, err error) {
			if err != nil {
				a.log.Warn("oauth: JWKS refresh failed; the previous keys stay in use", "url", o.JWKSURL, "err", err)
				return
			}
			a.log.Debug("oauth: JWKS refreshed", "keys", keys)
		},
	}
	if o.StalwartKeyFile != "" {
		key, err := os.ReadFile(o.StalwartKeyFile)
		if err != nil {
			return nil, fmt.Errorf("oauth.stalwart_key_file: %w", err)
		}
		// A key file written by an editor ends in a newline that is not
		// part of the key.
		cfg.StalwartKey = bytes.TrimRight(key, "\r\n")
	}
	v, err := verify.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	return v, nil
}

// verifyLogin adapts the verifier for the engine: token logins are
// verified and routed by the verified account.
func verifyLogin(v *verify.Verifier) func(sasl.Credentials) (string, error) {
	return func(c sasl.Credentials) (string, error) {
		switch c.Mechanism {
		case sasl.OAuthBearer, sasl.XOAuth2:
			return v.Verify(c.Token)
		}
		return "", nil
	}
}

// verifyBearer adapts the verifier for the HTTP machines.
func verifyBearer(v *verify.Verifier) func(string) error {
	if v == nil {
		return nil
	}
	return func(tok string) error {
		_, err := v.Verify(tok)
		return err
	}
}

// startVerifier runs the JWKS refresh until ctx ends.
func (a *App) startVerifier(ctx context.Context) {
	if a.verifier != nil {
		a.verifier.Start(ctx)
	}
}
