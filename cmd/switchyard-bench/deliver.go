package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/mocksmtp"
	"github.com/switchyard-mail/switchyard/bench/protoload"
)

// runDeliver is --scenario deliver --protocol smtp|lmtp: messages through
// bench/protoload's deliver scenario.
func runDeliver(ctx context.Context, f *flags, accounts []imapload.Account, stdout, stderr io.Writer) error {
	proto, err := protoload.ParseDeliverProtocol(f.protocol)
	if err != nil {
		return fmt.Errorf("--scenario deliver --protocol: %v", err)
	}
	if f.tlsMode != "none" {
		return errors.New("--tls: the deliver scenario speaks plaintext only")
	}
	return runScenario(f, stdout, stderr, false, func(c clientSide) (*protoload.DeliverResult, error) {
		return protoload.RunDeliver(ctx, protoload.DeliverOptions{
			Protocol:      proto,
			Target:        f.target,
			Accounts:      accounts,
			Domain:        f.rcptDomain,
			From:          f.mailFrom,
			MessageSize:   f.messageSize,
			Recipients:    f.recipients,
			PerConnection: f.perConnection,
			NoPipelining:  f.noPipelining,
			Run:           protoRun(f, c),
		})
	})
}

// runDeliverMock is --mock-backend with --mock-protocol smtp or lmtp:
// bench/mocksmtp delivery servers (no AUTH; LMTP with lmtp) that count
// messages without keeping them, until ctx ends or --duration passes.
func runDeliverMock(ctx context.Context, f *flags, accounts []imapload.Account, stdout io.Writer) error {
	proto := f.mockProtocol
	if f.mockImplicit || f.mockMsgSize != 0 || f.mockCaps != "" || f.mockProxy {
		return fmt.Errorf("--mock-implicit-tls, --mock-message-size, --mock-capabilities and --mock-proxy-header are not for --mock-protocol %s", proto)
	}
	cfg := mocksmtp.Config{LMTP: proto == "lmtp", NoAuth: true, CountOnly: true}
	if f.mockXClient {
		cfg.XClient = mockXClient
	}
	if f.mockKnown {
		for _, a := range accounts {
			cfg.Recipients = append(cfg.Recipients, protoload.RcptAddress(a.User, f.rcptDomain))
		}
	}
	var err error
	if cfg.TLS, err = mockTLSConfig(f, f.mockTLS); err != nil {
		return err
	}
	return serveMocks(ctx, f, "mock "+proto+" backend", func(name, addr string) (*mocksmtp.Server, error) {
		c := cfg
		c.Name = name
		s, err := mocksmtp.Listen(addr, c)
		if err != nil {
			return nil, err
		}
		known := "any recipient"
		if len(cfg.Recipients) > 0 {
			known = fmt.Sprintf("%d known recipients", len(cfg.Recipients))
		}
		fmt.Fprintf(stdout, "mock%s %s listening on %s (%s)\n", proto, c.Name, s.Addr(), known)
		return s, nil
	}, func(_ string, s *mocksmtp.Server) {
		fmt.Fprintf(stdout, "mock%s %s: %d messages accepted\n", proto, s.Name(), s.Accepted())
	})
}
