package managesieve

import (
	"errors"

	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// authCommand builds AUTHENTICATE with an initial response (RFC 5804
// allows one for every mechanism):
//
//   - PLAIN or LOGIN credentials: "PLAIN" when advertised; else "LOGIN"
//     with the user name as initial response and the password after the
//     challenge.
//   - OAUTHBEARER, XOAUTH2: the mechanism must be advertised.
func (b *Backend) authCommand(c sasl.Credentials) ([]byte, error) {
	ch, err := sasl.ForBackend(c, b.caps.hasMech, "managesieve backend", "managesieve backend: SASL %s not advertised")
	switch {
	case err != nil:
		return nil, err
	case ch.Mech != "":
		return b.authenticate(ch.Mech, ch.IR), nil
	case b.caps.hasMech(sasl.Login) && c.Authzid == "" && c.Username != "" && c.Password != "":
		return b.authenticate(sasl.Login, []byte(c.Username), sasl.QuotedBase64.Append(nil, []byte(c.Password))), nil
	case ch.PlainErr != nil:
		return nil, ch.PlainErr
	}
	return nil, errors.New("managesieve backend: neither SASL PLAIN nor LOGIN is advertised")
}

// authenticate builds AUTHENTICATE "mech" with ir; pending are the
// responses after each challenge.
func (b *Backend) authenticate(mech string, ir []byte, pending ...[]byte) []byte {
	b.Auth.Start(mech, pending...)
	cmd := append([]byte(`AUTHENTICATE "`), mech...)
	cmd = append(cmd, `" `...)
	return sasl.QuotedBase64.Append(cmd, ir)
}
