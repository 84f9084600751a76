package managesieve

import (
	"errors"
	"strconv"
	"strings"

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
	mech := strings.ToUpper(c.Mechanism)
	switch mech {
	case sasl.Plain, sasl.Login:
		c.Mechanism = sasl.Plain
		ir, err := sasl.InitialResponse(c)
		switch {
		case err == nil && b.caps.hasMech(sasl.Plain):
			return b.authenticate(sasl.Plain, ir), nil
		case b.caps.hasMech(sasl.Login) && c.Authzid == "" && c.Username != "" && c.Password != "":
			return b.authenticate(sasl.Login, []byte(c.Username), sasl.QuotedBase64.Append(nil, []byte(c.Password))), nil
		case err != nil:
			return nil, err
		}
		return nil, errors.New("managesieve backend: neither SASL PLAIN nor LOGIN is advertised")
	case sasl.OAuthBearer, sasl.XOAuth2:
		ir, err := sasl.BearerResponse(c, b.caps.hasMech(mech), "managesieve backend: SASL %s not advertised")
		if err != nil {
			return nil, err
		}
		return b.authenticate(mech, ir), nil
	}
	return nil, errors.New("managesieve backend: cannot replay mechanism " + strconv.Quote(c.Mechanism))
}

// authenticate builds AUTHENTICATE "mech" with ir; pending are the
// responses after each challenge.
func (b *Backend) authenticate(mech string, ir []byte, pending ...[]byte) []byte {
	b.Auth.Start(mech, pending...)
	cmd := append([]byte(`AUTHENTICATE "`), mech...)
	cmd = append(cmd, `" `...)
	return sasl.QuotedBase64.Append(cmd, ir)
}
