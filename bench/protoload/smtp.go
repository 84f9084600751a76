package protoload

import (
	"fmt"
	"strings"
)

// smtpSession speaks RFC 5321/6409/4954: multi-line replies "250-..." up
// to "250 ...".
type smtpSession struct {
	c    *conn
	helo string
}

// reply reads a whole reply and checks its code starts with class ('2',
// '3'); otherwise it returns a StatusError naming the code and the
// enhanced status code.
func (s *smtpSession) reply(class byte) error {
	for n := 0; ; n++ {
		l, err := s.c.line()
		if err != nil {
			return err
		}
		if len(l) < 3 || n > 1000 {
			return fmt.Errorf("%w: %q", errUnexpected, l)
		}
		if len(l) > 3 && l[3] == '-' {
			continue
		}
		if l[0] == class {
			return nil
		}
		e := &StatusError{Status: l[:3], Text: l}
		if f := strings.Fields(l[3:]); len(f) > 0 && len(f[0]) >= 5 && f[0][1] == '.' && f[0][0] >= '2' && f[0][0] <= '5' {
			e.Code = f[0]
		}
		return e
	}
}

func (s *smtpSession) greet() error {
	if err := s.reply('2'); err != nil {
		return err
	}
	return s.command("EHLO ", s.helo)
}

func (s *smtpSession) auth(_, user, password string) error {
	return s.command("AUTH PLAIN ", plainIR(user, password))
}

func (s *smtpSession) command(parts ...string) error {
	if err := s.c.send(parts...); err != nil {
		return err
	}
	return s.reply('2')
}
