package pop3

import (
	"encoding/base64"
	"errors"
	"strconv"
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
	mech := strings.ToUpper(c.Mechanism)
	switch mech {
	case sasl.Plain, sasl.Login:
		c.Mechanism = sasl.Plain
		ir, err := sasl.InitialResponse(c)
		if err == nil && b.caps.hasMech(sasl.Plain) {
			return []command{b.authLine(sasl.Plain, ir)}, nil
		}
		if c.Authzid == "" && c.Username != "" && c.Password != "" {
			if !lineSafe(c.Username) || !lineSafe(c.Password) {
				return nil, errors.New("pop3 backend: credentials cannot be sent with USER/PASS and SASL PLAIN is not advertised")
			}
			return []command{
				{stepUser, []byte("USER " + c.Username + "\r\n")},
				{stepPass, []byte("PASS " + c.Password + "\r\n")},
			}, nil
		}
		if err != nil {
			return nil, err
		}
		return nil, errors.New("pop3 backend: SASL PLAIN is not advertised")
	case sasl.OAuthBearer, sasl.XOAuth2:
		ir, err := sasl.BearerResponse(c, b.caps.hasMech(mech), "pop3 backend: SASL %s not advertised")
		if err != nil {
			return nil, err
		}
		return []command{b.authLine(mech, ir)}, nil
	}
	return nil, errors.New("pop3 backend: cannot replay mechanism " + strconv.Quote(c.Mechanism))
}

// authLine is "AUTH mech initial-response" (RFC 5034; "=" when empty).
func (b *Backend) authLine(mech string, ir []byte) command {
	b.Auth.Start(mech)
	line := append([]byte("AUTH "), mech...)
	line = append(line, ' ')
	if len(ir) == 0 {
		line = append(line, '=')
	}
	line = base64.StdEncoding.AppendEncode(line, ir)
	return command{stepAuth, append(line, "\r\n"...)}
}

// lineSafe: a USER or PASS argument must not end the command line early.
func lineSafe(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00") && len(s) <= sasl.MaxFieldLen && !strings.HasPrefix(s, " ")
}
