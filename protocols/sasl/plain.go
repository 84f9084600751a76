package sasl

import "bytes"

// PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd.

func decodePlain(msg []byte, c *Credentials) error {
	if bytes.Count(msg, []byte{0}) != 2 {
		return malformed("PLAIN needs exactly two NUL separators")
	}
	i := bytes.IndexByte(msg, 0)
	j := i + 1 + bytes.IndexByte(msg[i+1:], 0)
	authzid, authcid, passwd := msg[:i], msg[i+1:j], msg[j+1:]
	if err := checkText("authorization identity", authzid, MaxFieldLen, false); err != nil {
		return err
	}
	if err := checkText("user name", authcid, MaxFieldLen, true); err != nil {
		return err
	}
	if err := checkText("password", passwd, MaxFieldLen, true); err != nil {
		return err
	}
	c.Authzid, c.Username, c.Password = string(authzid), string(authcid), string(passwd)
	return nil
}

func encodePlain(c Credentials) ([]byte, error) {
	for _, f := range [...]struct {
		what     string
		v        string
		required bool
	}{{"authorization identity", c.Authzid, false}, {"user name", c.Username, true}, {"password", c.Password, true}} {
		if err := checkText(f.what, []byte(f.v), MaxFieldLen, f.required); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, len(c.Authzid)+len(c.Username)+len(c.Password)+2)
	b = append(b, c.Authzid...)
	b = append(b, 0)
	b = append(b, c.Username...)
	b = append(b, 0)
	return append(b, c.Password...), nil
}
