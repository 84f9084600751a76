package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/mockpop3"
	"github.com/switchyard-mail/switchyard/bench/mocksieve"
	"github.com/switchyard-mail/switchyard/bench/mocksmtp"
	"github.com/switchyard-mail/switchyard/bench/protoload"
)

// The scenarios bench/protoload runs (login storms of POP3, submission and
// ManageSieve; SMTP and LMTP deliveries) and the mock backends they are
// measured against.

// runProtoLoad is --protocol pop3|submission|managesieve: a login storm
// through bench/protoload. The IMAP path (runLoad) is not involved.
func runProtoLoad(ctx context.Context, f *flags, accounts []imapload.Account, stdout, stderr io.Writer) error {
	proto, err := protoload.ParseProtocol(f.protocol)
	if err != nil {
		return fmt.Errorf("--protocol: %v", err)
	}
	if f.scenario != "login" {
		return fmt.Errorf("--scenario %q: --protocol %s has the login scenario only", f.scenario, proto)
	}
	if f.noSASLIR {
		return fmt.Errorf("--no-sasl-ir: --protocol %s always sends an initial response", proto)
	}
	return runScenario(f, stdout, stderr, true, func(c clientSide) (*protoload.Result, error) {
		return protoload.RunLogin(ctx, protoload.Options{
			Protocol:  proto,
			Target:    f.target,
			TLS:       imapload.TLSMode(f.tlsMode),
			TLSConfig: c.TLSConfig,
			Auth:      imapload.AuthMode(f.auth),
			Accounts:  accounts,
			SkipNoop:  f.noNoop,
			Run:       protoRun(f, c),
		})
	})
}

// runProtoMock is --mock-backend with --mock-protocol pop3, submission or
// managesieve: bench/mockpop3, mocksmtp or mocksieve servers with the
// accounts of --users/--users-file, until ctx ends or --duration passes.
func runProtoMock(ctx context.Context, f *flags, accounts []imapload.Account, stdout io.Writer) error {
	proto, err := protoload.ParseProtocol(f.mockProtocol)
	if err != nil {
		return fmt.Errorf("--mock-protocol: %v", err)
	}
	if f.mockImplicit || f.mockMsgSize != 0 || f.mockCaps != "" {
		return fmt.Errorf("--mock-implicit-tls, --mock-message-size and --mock-capabilities are for --mock-protocol imap")
	}
	if (f.mockTLS || f.mockCert != "") && proto != protoload.Submission {
		return fmt.Errorf("--mock-tls: the %s mock has no TLS", proto)
	}
	if f.mockProxy && proto == protoload.Submission {
		return errors.New("--mock-proxy-header: the submission mock reads no PROXY header")
	}
	users := imapload.Passwords(accounts)
	tlsCfg, err := mockTLSConfig(f, f.mockTLS)
	if err != nil {
		return err
	}
	type server interface {
		Addr() string
		Close() error
	}
	return serveMocks(ctx, f, fmt.Sprintf("mock %s backend", proto), func(name, addr string) (server, error) {
		var s server
		var err error
		switch proto {
		case protoload.POP3:
			s, err = mockpop3.Listen(addr, mockpop3.Config{Name: name, Users: users, AcceptProxyHeader: f.mockProxy, XClient: f.mockXClient, Pipelining: true})
		case protoload.Submission:
			var xc []string
			if f.mockXClient {
				xc = mockXClient
			}
			s, err = mocksmtp.Listen(addr, mocksmtp.Config{Name: name, Users: users, TLS: tlsCfg, XClient: xc})
		default:
			s, err = mocksieve.Listen(addr, mocksieve.Config{Name: name, Users: users, AcceptProxyHeader: f.mockProxy, XClient: f.mockXClient})
		}
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "mock%s %s listening on %s (%d users)\n", proto, name, s.Addr(), len(users))
		return s, nil
	}, func(name string, s server) {
		switch m := s.(type) {
		case *mockpop3.Server:
			fmt.Fprintf(stdout, "mock%s %s: %d logins\n", proto, name, m.Logins())
		case *mocksmtp.Server:
			ok, failed := m.Logins()
			fmt.Fprintf(stdout, "mock%s %s: %d logins, %d refused\n", proto, name, ok, failed)
		default:
			fmt.Fprintf(stdout, "mock%s %s: stopped\n", proto, name)
		}
	})
}

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
