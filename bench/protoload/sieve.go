package protoload

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// sieveSession speaks RFC 5804: responses are lines until one starting
// with OK, NO or BYE, which may carry a (CODE) and a quoted or literal
// string.
type sieveSession struct{ c *conn }

// response reads up to the final OK/NO/BYE; lines before it (the
// capability block, data) are skipped, literals included.
func (s *sieveSession) response() error {
	for n := 0; n < 1000; n++ {
		l, err := s.c.line()
		if err != nil {
			return err
		}
		full, err := s.literals(l)
		if err != nil {
			return err
		}
		word, rest, _ := strings.Cut(full, " ")
		switch strings.ToUpper(word) {
		case "OK":
			return nil
		case "NO", "BYE":
			e := &StatusError{Status: strings.ToUpper(word), Text: full}
			if strings.HasPrefix(rest, "(") {
				if end := strings.IndexByte(rest, ')'); end > 0 && end < 60 {
					e.Code = rest[1:end]
				}
			}
			return e
		}
	}
	return fmt.Errorf("%w: more than 1000 lines", errUnexpected)
}

// literals appends the content of a {n} or {n+} literal ending l, and the
// rest of the line after it, as many times as the line asks.
func (s *sieveSession) literals(l string) (string, error) {
	for strings.HasSuffix(l, "}") {
		i := strings.LastIndexByte(l, '{')
		if i < 0 {
			return l, nil
		}
		n, err := strconv.Atoi(strings.TrimSuffix(l[i+1:len(l)-1], "+"))
		if err != nil || n < 0 {
			return l, nil
		}
		if n > maxLine {
			return "", fmt.Errorf("literal of %d bytes", n)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(s.c.r, b); err != nil {
			return "", err
		}
		next, err := s.c.line()
		if err != nil {
			return "", err
		}
		l = l[:i] + strconv.Quote(string(b)) + next
	}
	return l, nil
}

func (s *sieveSession) greet() error { return s.response() }

func (s *sieveSession) auth(_, user, password string) error {
	return s.command(`AUTHENTICATE "PLAIN" "`, plainIR(user, password), `"`)
}

func (s *sieveSession) command(parts ...string) error {
	if err := s.c.send(parts...); err != nil {
		return err
	}
	return s.response()
}
