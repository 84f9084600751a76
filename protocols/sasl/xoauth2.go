package sasl

import "bytes"

// XOAUTH2 (Google's pre-standard mechanism):
//
//	"user=" user %x01 "auth=Bearer " token %x01 %x01
//
// Keys may come in either order; the final %x01 is tolerated when missing,
// since some clients omit it. Unknown keys are ignored.

func decodeXOAuth2(msg []byte, c *Credentials) error {
	var user, token []byte
	var seenUser, seenAuth bool
	err := eachKV(msg, true, splitXOAuth2KV, func(key string, value []byte) (err error) {
		switch key {
		case "user":
			err, user = once(&seenUser, key), value
		case "auth":
			if err = once(&seenAuth, key); err == nil {
				token, err = parseBearer(value)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if !seenUser {
		return malformed("missing user")
	}
	if !seenAuth {
		return malformed("missing auth")
	}
	if err := checkText("user name", user, MaxFieldLen, true); err != nil {
		return err
	}
	c.Username, c.Token = string(user), string(token)
	return nil
}

// splitXOAuth2KV is splitKV without the character-class restriction on the
// value beyond what checkText applies to user names.
func splitXOAuth2KV(kv []byte) (string, []byte, error) {
	eq := bytes.IndexByte(kv, '=')
	if eq <= 0 {
		return "", nil, malformed("bad key/value pair")
	}
	return string(kv[:eq]), kv[eq+1:], nil
}

func encodeXOAuth2(c Credentials) ([]byte, error) {
	if err := checkText("user name", []byte(c.Username), MaxFieldLen, true); err != nil {
		return nil, err
	}
	if bytes.IndexByte([]byte(c.Username), kvsep) >= 0 {
		return nil, malformed("user name contains separator")
	}
	if err := checkBearerToken([]byte(c.Token)); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 20+len(c.Username)+len(c.Token))
	b = appendPair(b, "user=", c.Username)
	return appendBearer(b, c.Token), nil
}
