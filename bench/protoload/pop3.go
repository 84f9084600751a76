package protoload

import "strings"

// pop3Session speaks RFC 1939 and 5034: +OK/-ERR single-line replies.
type pop3Session struct{ c *conn }

// pop3Reply reads one reply: nil for +OK, a StatusError for -ERR.
func (s *pop3Session) reply() error {
	l, err := s.c.line()
	if err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(l, "+OK"):
		return nil
	case strings.HasPrefix(l, "-ERR"):
		e := &StatusError{Status: "-ERR", Text: l}
		if rest := strings.TrimPrefix(l, "-ERR "); strings.HasPrefix(rest, "[") {
			if end := strings.IndexByte(rest, ']'); end > 0 && end < 40 {
				e.Code = rest[1:end]
			}
		}
		return e
	}
	return &StatusError{Status: "?", Text: l}
}

func (s *pop3Session) greet() error { return s.reply() }

func (s *pop3Session) auth(mode, user, password string) error {
	if mode == string(AuthUser) {
		if err := s.command("USER ", user); err != nil {
			return err
		}
		return s.command("PASS ", password)
	}
	return s.command("AUTH PLAIN ", plainIR(user, password))
}

func (s *pop3Session) command(parts ...string) error {
	if err := s.c.send(parts...); err != nil {
		return err
	}
	return s.reply()
}
