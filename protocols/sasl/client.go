package sasl

import "strings"

// InitialResponse encodes c for its mechanism as the client's first (and
// only) message, ready for base64: PLAIN, OAUTHBEARER and XOAUTH2 re-encode
// the same identity, token, host and port the client presented. LOGIN has
// no initial response (its two steps are c.Username then c.Password) and
// gets ErrUnsupported; replay LOGIN credentials through PLAIN if the
// backend offers it.
func InitialResponse(c Credentials) ([]byte, error) {
	switch strings.ToUpper(c.Mechanism) {
	case Plain:
		return encodePlain(c)
	case OAuthBearer:
		return encodeOAuthBearer(c)
	case XOAuth2:
		return encodeXOAuth2(c)
	}
	return nil, ErrUnsupported
}
