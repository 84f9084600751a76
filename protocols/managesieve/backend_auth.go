package managesieve

import (
	"encoding/base64"
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
			b.pending = [][]byte{quotedBase64([]byte(c.Password))}
			return b.authenticate(sasl.Login, []byte(c.Username)), nil
		case err != nil:
			return nil, err
		}
		return nil, errors.New("managesieve backend: neither SASL PLAIN nor LOGIN is advertised")
	case sasl.OAuthBearer, sasl.XOAuth2:
		if !b.caps.hasMech(mech) {
			return nil, errors.New("managesieve backend: SASL " + mech + " not advertised")
		}
		ir, err := sasl.InitialResponse(c)
		if err != nil {
			return nil, err
		}
		return b.authenticate(mech, ir), nil
	}
	return nil, errors.New("managesieve backend: cannot replay mechanism " + strconv.Quote(c.Mechanism))
}

func (b *Backend) authenticate(mech string, ir []byte) []byte {
	b.mech = mech
	cmd := append([]byte(`AUTHENTICATE "`), mech...)
	cmd = append(cmd, `" `...)
	return append(cmd, quotedBase64(ir)...)
}

// quotedBase64 is a quoted string of base64 and CRLF.
func quotedBase64(v []byte) []byte {
	out := append([]byte(nil), '"')
	out = base64.StdEncoding.AppendEncode(out, v)
	return append(out, "\"\r\n"...)
}
