package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/mockhttp"
	"github.com/switchyard-mail/switchyard/bench/protoload/httpload"
)

// runHTTP is --scenario http: JMAP-like POSTs over keep-alive HTTP/1.1
// connections through bench/protoload's http scenario.
func runHTTP(ctx context.Context, f *flags, accounts []imapload.Account, stdout, stderr io.Writer) error {
	if f.tlsMode != "none" && f.tlsMode != "implicit" {
		return fmt.Errorf("--tls %s: the http scenario speaks plaintext (none) or https (implicit)", f.tlsMode)
	}
	return runScenario(f, stdout, stderr, true, func(c clientSide) (*httpload.HTTPResult, error) {
		return httpload.RunHTTP(ctx, httpload.HTTPOptions{
			Target:            f.target,
			TLS:               imapload.TLSMode(f.tlsMode),
			TLSConfig:         c.TLSConfig,
			Host:              f.httpHost,
			Path:              f.httpPath,
			Accounts:          accounts,
			BodySize:          f.bodySize,
			AccountPerRequest: f.accountPerRequest,
			PerConnection:     f.perConnection,
			Run:               protoRun(f, c),
		})
	})
}

// runHTTPMock is --mock-backend with --mock-protocol http: bench/mockhttp
// servers that accept the accounts' Basic credentials (401 for others)
// and answer every request with a short JSON naming the backend, until ctx
// ends or --duration passes. --mock-tls (or --mock-implicit-tls) makes
// them https.
func runHTTPMock(ctx context.Context, f *flags, accounts []imapload.Account, stdout io.Writer) error {
	if f.mockMsgSize != 0 || f.mockCaps != "" || f.mockProxy || f.mockXClient || f.mockKnown {
		return errors.New("--mock-message-size, --mock-capabilities, --mock-proxy-header, --mock-xclient and --mock-known-recipients are not for --mock-protocol http")
	}
	users := imapload.Passwords(accounts)
	tlsCfg, err := mockTLSConfig(f, f.mockTLS || f.mockImplicit)
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	return serveMocks(ctx, f, "mock http backend", func(name, addr string) (*mockhttp.Server, error) {
		s, err := mockhttp.Listen(addr, mockhttp.Config{Name: name, Users: users, TLS: tlsCfg})
		if err == nil {
			fmt.Fprintf(stdout, "mockhttp %s listening on %s (%s, %d users)\n", name, s.Addr(), scheme, len(users))
		}
		return s, err
	}, func(_ string, s *mockhttp.Server) {
		fmt.Fprintf(stdout, "mockhttp %s: %d requests, %d unauthorized, %d connections\n", s.Name(), s.Requests(), s.Unauthorized(), s.Connections())
	})
}
