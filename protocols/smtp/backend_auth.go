package smtp

import (
	"errors"

	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// maxCommandLine is RFC 5321's command line limit, CRLF included: an AUTH
// whose initial response would not fit is sent without it and the
// response follows the first 334 (RFC 4954 section 4).
const maxCommandLine = 512

// authCommand builds the AUTH command and starts the replay of the
// responses that follow each 334, with the fewest round trips the backend
// allows:
//
//   - PLAIN or LOGIN credentials: AUTH PLAIN with an initial response when
//     the backend offers PLAIN; else AUTH LOGIN, user name and password
//     after each 334.
//   - OAUTHBEARER, XOAUTH2: the same mechanism, which must be offered.
func (b *Backend) authCommand(c sasl.Credentials) (first []byte, err error) {
	ch, err := sasl.ForBackend(c, b.ext.HasAuth, "smtp backend", "smtp backend: AUTH %s not offered")
	switch {
	case err != nil:
		return nil, err
	case ch.Mech != "":
		return b.withResponse(ch.Mech, ch.IR), nil
	case b.ext.HasAuth(sasl.Plain):
		return nil, ch.PlainErr
	case b.ext.HasAuth(sasl.Login) && c.Authzid == "" && c.Username != "":
		b.Auth.Start(sasl.Login, b64Line(c.Username), b64Line(c.Password))
		return []byte("AUTH LOGIN\r\n"), nil
	}
	return nil, errors.New("smtp backend: neither AUTH PLAIN nor AUTH LOGIN is offered")
}

// withResponse builds AUTH mech with ir as initial response when the line
// fits, else AUTH mech and ir after the 334.
func (b *Backend) withResponse(mech string, ir []byte) []byte {
	resp := sasl.AppendIR(nil, ir)
	cmd := append([]byte("AUTH "), mech...)
	if len(cmd)+1+len(resp)+2 <= maxCommandLine {
		b.Auth.Start(mech)
		cmd = append(cmd, ' ')
		cmd = append(cmd, resp...)
		return append(cmd, "\r\n"...)
	}
	if len(ir) == 0 {
		resp = resp[:0]
	}
	b.Auth.Start(mech, append(resp, "\r\n"...))
	return append(cmd, "\r\n"...)
}

func b64Line(s string) []byte { return sasl.Base64Line.Append(nil, []byte(s)) }
