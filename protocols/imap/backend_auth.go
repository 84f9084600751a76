package imap

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// authCommand builds the authentication command under the client's tag,
// split into the parts sent before and after each "+" continuation. It
// picks the fewest round trips the backend allows:
//
//   - PLAIN or LOGIN credentials: AUTHENTICATE PLAIN with SASL-IR; else
//     LOGIN with quoted strings, or literals (LITERAL+ when offered); else
//     AUTHENTICATE PLAIN and the response after "+".
//   - OAUTHBEARER, XOAUTH2: AUTHENTICATE with SASL-IR, else after "+".
func (b *Backend) authCommand(c sasl.Credentials) (mech string, parts [][]byte, err error) {
	mech = strings.ToUpper(c.Mechanism)
	switch mech {
	case sasl.Plain, sasl.Login:
		c.Mechanism = sasl.Plain
		ir, err := sasl.InitialResponse(c)
		plainOK := b.caps&capAuthPlain != 0 && err == nil
		switch {
		case plainOK && b.caps&capSASLIR != 0:
			return sasl.Plain, b.authenticateParts(sasl.Plain, ir, true), nil
		case b.caps&capLoginDisabled == 0 && c.Authzid == "" && c.Username != "":
			return sasl.Login, b.loginParts(c.Username, c.Password), nil
		case plainOK:
			return sasl.Plain, b.authenticateParts(sasl.Plain, ir, false), nil
		case err != nil:
			return "", nil, err
		}
		return "", nil, errors.New("imap backend: neither LOGIN nor AUTH=PLAIN is available")
	case sasl.OAuthBearer, sasl.XOAuth2:
		flag := capAuthOAuthBearer
		if mech == sasl.XOAuth2 {
			flag = capAuthXOAuth2
		}
		ir, err := sasl.BearerResponse(c, b.caps&flag != 0, "imap backend: AUTH=%s not advertised")
		if err != nil {
			return "", nil, err
		}
		return mech, b.authenticateParts(mech, ir, b.caps&capSASLIR != 0), nil
	}
	return "", nil, errors.New("imap backend: cannot replay mechanism " + strconv.Quote(c.Mechanism))
}

func (b *Backend) authenticateParts(mech string, ir []byte, saslIR bool) [][]byte {
	cmd := append([]byte(nil), b.clientTag...)
	cmd = append(cmd, " AUTHENTICATE "...)
	cmd = append(cmd, mech...)
	resp := base64.StdEncoding.AppendEncode(nil, ir)
	if len(ir) == 0 {
		resp = append(resp, '=')
	}
	if saslIR {
		cmd = append(cmd, ' ')
		cmd = append(cmd, resp...)
		return [][]byte{append(cmd, "\r\n"...)}
	}
	return [][]byte{append(cmd, "\r\n"...), append(resp, "\r\n"...)}
}

// loginParts builds LOGIN user pass; a value that cannot be quoted goes
// as a literal, non-synchronizing with LITERAL+, else synchronizing (each
// literal's octets wait for the backend's "+").
func (b *Backend) loginParts(user, pass string) [][]byte {
	parts := [][]byte{nil}
	cur := append([]byte(nil), b.clientTag...)
	cur = append(cur, " LOGIN "...)
	for i, v := range [2]string{user, pass} {
		if i == 1 {
			cur = append(cur, ' ')
		}
		if canQuote(v) && utf8.ValidString(v) {
			cur = appendQuoted(cur, v)
			continue
		}
		cur = append(cur, '{')
		cur = strconv.AppendInt(cur, int64(len(v)), 10)
		if b.caps&capLiteralPlus != 0 {
			cur = append(cur, "+}\r\n"...)
		} else {
			cur = append(cur, "}\r\n"...)
			parts[len(parts)-1] = cur
			parts = append(parts, nil)
			cur = nil
		}
		cur = append(cur, v...)
	}
	parts[len(parts)-1] = append(cur, "\r\n"...)
	return parts
}
