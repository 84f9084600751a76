package sasl

import (
	"fmt"
	"strings"
)

// BearerResponse is the initial response that replays OAUTHBEARER or
// XOAUTH2 credentials c on a backend, which must offer the mechanism
// (offered); notOffered words the error otherwise, a format with %s for
// the mechanism.
func BearerResponse(c Credentials, offered bool, notOffered string) ([]byte, error) {
	if !offered {
		return nil, fmt.Errorf(notOffered, strings.ToUpper(c.Mechanism))
	}
	return InitialResponse(c)
}

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
