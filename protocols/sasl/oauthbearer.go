package sasl

import (
	"bytes"
	"strings"
)

// OAUTHBEARER (RFC 7628):
//
//	gs2-header kvsep *(key "=" value kvsep) kvsep
//	gs2-header = ("n" / "y") "," ["a=" saslname] ","
//
// with kvsep = %x01 and auth=Bearer <token> required. Channel binding
// ("p=") is not defined for this mechanism and is refused.

const (
	kvsep      = 0x01
	maxHostLen = 255
	maxPortLen = 5
)

func decodeOAuthBearer(msg []byte, c *Credentials) error {
	if len(msg) < 2 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',' {
		if len(msg) > 0 && msg[0] == 'p' {
			return malformed("OAUTHBEARER does not support channel binding")
		}
		return malformed("bad gs2 header")
	}
	rest := msg[2:]
	comma := bytes.IndexByte(rest, ',')
	if comma < 0 {
		return malformed("bad gs2 header")
	}
	var user string
	if authz := rest[:comma]; len(authz) > 0 {
		if !bytes.HasPrefix(authz, []byte("a=")) {
			return malformed("bad gs2 authzid")
		}
		u, err := decodeSaslname(authz[2:])
		if err != nil {
			return err
		}
		user = u
	}
	rest = rest[comma+1:]
	if len(rest) == 0 || rest[0] != kvsep {
		return malformed("missing separator after gs2 header")
	}
	rest = rest[1:]
	var token, host, port []byte
	var seenAuth, seenHost, seenPort bool
	err := eachKV(rest, false, splitKV, func(key string, value []byte) (err error) {
		switch key {
		case "auth":
			if err = once(&seenAuth, key); err == nil {
				token, err = parseBearer(value)
			}
		case "host":
			if err = once(&seenHost, key); err == nil && !validHost(string(value)) {
				err = malformed("bad host")
			}
			host = value
		case "port":
			if err = once(&seenPort, key); err == nil && (len(value) == 0 || len(value) > maxPortLen || !allDigits(value)) {
				err = malformed("bad port")
			}
			port = value
		}
		// Other keys are extensions (RFC 7628 section 3.1): ignored.
		return err
	})
	if err != nil {
		return err
	}
	if !seenAuth {
		return malformed("missing auth")
	}
	c.Username, c.Token, c.Host, c.Port = user, string(token), string(host), string(port)
	return nil
}

// eachKV hands do the key=value pairs of an OAuth message, split by
// split, each ended by kvsep, up to the empty pair that ends the message.
// lax tolerates a message that lacks it.
func eachKV(rest []byte, lax bool, split func([]byte) (string, []byte, error), do func(key string, value []byte) error) error {
	for {
		i := bytes.IndexByte(rest, kvsep)
		if i < 0 {
			return malformed("unterminated key/value pair")
		}
		if i == 0 {
			if len(rest) != 1 {
				return malformed("data after final separator")
			}
			return nil
		}
		key, value, err := split(rest[:i])
		if err != nil {
			return err
		}
		if err := do(key, value); err != nil {
			return err
		}
		if rest = rest[i+1:]; lax && len(rest) == 0 {
			return nil // final separator missing: tolerated
		}
	}
}

// once refuses a key given twice.
func once(seen *bool, key string) error {
	if *seen {
		return malformed("duplicate " + key)
	}
	*seen = true
	return nil
}

// splitKV splits key=value; key is 1*ALPHA, value is *(VCHAR / SP / HTAB /
// CR / LF).
func splitKV(kv []byte) (string, []byte, error) {
	eq := bytes.IndexByte(kv, '=')
	if eq <= 0 {
		return "", nil, malformed("bad key/value pair")
	}
	for _, ch := range kv[:eq] {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z') {
			return "", nil, malformed("bad key")
		}
	}
	v := kv[eq+1:]
	for _, ch := range v {
		if !(ch >= 0x21 && ch <= 0x7e || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			return "", nil, malformed("bad character in value")
		}
	}
	return string(kv[:eq]), v, nil
}

// parseBearer parses `Bearer 1*SP b64token` (RFC 6750 section 2.1); the
// scheme is case-insensitive.
func parseBearer(v []byte) ([]byte, error) {
	const scheme = "bearer"
	if len(v) <= len(scheme) || !strings.EqualFold(string(v[:len(scheme)]), scheme) || v[len(scheme)] != ' ' {
		return nil, malformed("auth is not a Bearer token")
	}
	tok := bytes.TrimLeft(v[len(scheme):], " ")
	if err := checkBearerToken(tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// checkBearerToken validates b64token = 1*(ALPHA / DIGIT / "-" / "." / "_"
// / "~" / "+" / "/") *"=".
func checkBearerToken(tok []byte) error {
	if len(tok) == 0 {
		return malformed("empty token")
	}
	if len(tok) > MaxTokenLen {
		return malformed("token too long")
	}
	i := 0
	for ; i < len(tok); i++ {
		ch := tok[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '+' || ch == '/') {
			break
		}
	}
	if i == 0 {
		return malformed("bad token")
	}
	for ; i < len(tok); i++ {
		if tok[i] != '=' {
			return malformed("bad character in token")
		}
	}
	return nil
}

// decodeSaslname undoes the "=2C" / "=3D" escaping of ',' and '='.
func decodeSaslname(b []byte) (string, error) {
	if len(b) == 0 {
		return "", malformed("empty authzid")
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		switch ch := b[i]; ch {
		case '=':
			if i+2 >= len(b) {
				return "", malformed("bad escape in authzid")
			}
			switch string(b[i+1 : i+3]) {
			case "2C", "2c":
				out = append(out, ',')
			case "3D", "3d":
				out = append(out, '=')
			default:
				return "", malformed("bad escape in authzid")
			}
			i += 2
		case 0, ',':
			return "", malformed("bad character in authzid")
		default:
			out = append(out, ch)
		}
	}
	if err := checkText("user name", out, MaxFieldLen, true); err != nil {
		return "", err
	}
	return string(out), nil
}

func encodeSaslname(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',':
			b = append(b, "=2C"...)
		case '=':
			b = append(b, "=3D"...)
		default:
			b = append(b, s[i])
		}
	}
	return b
}

func allDigits(b []byte) bool {
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return false
		}
	}
	return true
}

func encodeOAuthBearer(c Credentials) ([]byte, error) {
	if c.Username != "" {
		if err := checkText("user name", []byte(c.Username), MaxFieldLen, true); err != nil {
			return nil, err
		}
	}
	if err := checkBearerToken([]byte(c.Token)); err != nil {
		return nil, err
	}
	if !validHost(c.Host) {
		return nil, malformed("bad host")
	}
	if c.Port != "" && (len(c.Port) > maxPortLen || !allDigits([]byte(c.Port))) {
		return nil, malformed("bad port")
	}
	b := make([]byte, 0, 32+len(c.Username)+len(c.Host)+len(c.Token))
	b = append(b, "n,"...)
	if c.Username != "" {
		b = append(b, "a="...)
		b = encodeSaslname(b, c.Username)
	}
	b = append(b, ',', kvsep)
	if c.Host != "" {
		b = appendPair(b, "host=", c.Host)
	}
	if c.Port != "" {
		b = appendPair(b, "port=", c.Port)
	}
	return appendBearer(b, c.Token), nil
}

// appendPair writes one key=value pair and its kvsep: both OAUTHBEARER's
// and XOAUTH2's messages are such pairs.
func appendPair(b []byte, keyEq, value string) []byte {
	b = append(b, keyEq...)
	b = append(b, value...)
	return append(b, kvsep)
}

// appendBearer ends a message with the auth pair and the empty pair.
func appendBearer(b []byte, token string) []byte {
	return append(appendPair(b, "auth=Bearer ", token), kvsep)
}

// validHost is the one rule for host= both ways: what the server side
// accepts, the client side can send again.
func validHost(h string) bool {
	return len(h) <= maxHostLen && !strings.ContainsFunc(h, func(r rune) bool { return r < 0x20 && r != '\t' || r >= 0x7f })
}
