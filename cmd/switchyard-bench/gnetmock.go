package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/switchyard-mail/switchyard/bench/gnetmock"
)

// runGnetMock is --mock-backend with --mock-protocol imap-gnet or
// imap-gnet-enroll: bench/gnetmock, the floor of a login on gnet.
func runGnetMock(ctx context.Context, f *flags, stdout io.Writer) error {
	if f.mockTLS || f.mockImplicit || f.mockProxy || f.mockMsgSize != 0 || f.mockCaps != "" || f.mockCert != "" {
		return errors.New("--mock-protocol " + f.mockProtocol + " takes no other --mock-* flag but --mock-names")
	}
	cfg := gnetmock.Config{Enroll: f.mockProtocol == "imap-gnet-enroll"}
	return serveMocks(ctx, f, "gnetmock", func(name, addr string) (*gnetmock.Server, error) {
		s, err := gnetmock.Listen(addr, cfg)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "gnetmock %s listening on %s (%s)\n", name, s.Addr(), f.mockProtocol)
		return s, nil
	}, func(name string, s *gnetmock.Server) {
		fmt.Fprintf(stdout, "gnetmock %s: %d logins, %d sessions open at exit\n", name, s.Logins(), s.Sessions())
	})
}
