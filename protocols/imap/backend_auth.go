package imap

import (
	"errors"
	"strconv"
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
	ch, err := sasl.ForBackend(c, b.offers, "imap backend", "imap backend: AUTH=%s not advertised")
	saslIR := b.caps&capSASLIR != 0
	login := b.caps&capLoginDisabled == 0 && c.Authzid == "" && c.Username != ""
	switch {
	case err != nil:
		return "", nil, err
	case ch.Mech != "" && (saslIR || ch.Mech != sasl.Plain || !login):
		return ch.Mech, b.authenticateParts(ch.Mech, ch.IR, saslIR), nil
	case login:
		return sasl.Login, b.loginParts(c.Username, c.Password), nil
	case ch.PlainErr != nil:
		return "", nil, ch.PlainErr
	}
	return "", nil, errors.New("imap backend: neither LOGIN nor AUTH=PLAIN is available")
}

// offers reports whether the backend advertises AUTH=mech.
func (b *Backend) offers(mech string) bool {
	switch mech {
	case sasl.Plain:
		return b.caps&capAuthPlain != 0
	case sasl.OAuthBearer:
		return b.caps&capAuthOAuthBearer != 0
	case sasl.XOAuth2:
		return b.caps&capAuthXOAuth2 != 0
	}
	return false
}

func (b *Backend) authenticateParts(mech string, ir []byte, saslIR bool) [][]byte {
	cmd := append([]byte(nil), b.clientTag...)
	cmd = append(cmd, " AUTHENTICATE "...)
	cmd = append(cmd, mech...)
	resp := sasl.AppendIR(nil, ir)
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
