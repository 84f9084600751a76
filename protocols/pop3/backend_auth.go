package pop3

import (
	"errors"
	"strings"

	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// loginCommands builds the commands that replay c, in the fewest round
// trips the backend allows:
//
//   - PLAIN or LOGIN credentials: AUTH PLAIN with an initial response when
//     SASL PLAIN is advertised, else USER and PASS (pipelined when the
//     backend offers PIPELINING).
//   - OAUTHBEARER, XOAUTH2: AUTH with an initial response; the backend must
//     advertise the mechanism.
func (b *Backend) loginCommands(c sasl.Credentials) ([]command, error) {
	ch, err := sasl.ForBackend(c, b.caps.hasMech, "pop3 backend", "pop3 backend: SASL %s not advertised")
	switch {
	case err != nil:
		return nil, err
	case ch.Mech != "":
		return []command{b.authLine(ch.Mech, ch.IR)}, nil
	case c.Authzid == "" && c.Username != "" && c.Password != "":
		if !lineSafe(c.Username) || !lineSafe(c.Password) {
			return nil, errors.New("pop3 backend: credentials cannot be sent with USER/PASS and SASL PLAIN is not advertised")
		}
		return []command{
			{stepUser, []byte("USER " + c.Username + "\r\n")},
			{stepPass, []byte("PASS " + c.Password + "\r\n")},
		}, nil
	case ch.PlainErr != nil:
		return nil, ch.PlainErr
	}
	return nil, errors.New("pop3 backend: SASL PLAIN is not advertised")
}

// authLine is "AUTH mech initial-response" (RFC 5034; "=" when empty).
func (b *Backend) authLine(mech string, ir []byte) command {
	b.Auth.Start(mech)
	line := append([]byte("AUTH "), mech...)
	line = append(line, ' ')
	line = sasl.AppendIR(line, ir)
	return command{stepAuth, append(line, "\r\n"...)}
}

// lineSafe: a USER or PASS argument must not end the command line early.
func lineSafe(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00") && len(s) <= sasl.MaxFieldLen && !strings.HasPrefix(s, " ")
}
