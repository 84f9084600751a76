package protoload

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/switchyard-mail/switchyard/bench/protoload/internal/run"
)

// maxLine bounds one server line (and a ManageSieve literal in a reply).
const maxLine = 64 << 10

// StatusError is a refusal by the server (package run).
type StatusError = run.StatusError

// errUnexpected is a reply that fits no protocol rule.
var errUnexpected = errors.New("unexpected reply")

// conn is a line-oriented client connection: replies are read through a
// small buffer, commands are written whole with one Write each.
type conn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

func newConn(c net.Conn) *conn {
	return &conn{c: c, r: bufio.NewReaderSize(c, 2048), buf: make([]byte, 0, 256)}
}

// line reads one line without its CRLF.
func (c *conn) line() (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := c.r.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		if !isPrefix && b == nil {
			return string(chunk), nil
		}
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", fmt.Errorf("line longer than %d bytes", maxLine)
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// send writes the parts and CRLF in one write.
func (c *conn) send(parts ...string) error {
	c.buf = c.buf[:0]
	for _, p := range parts {
		c.buf = append(c.buf, p...)
	}
	c.buf = append(c.buf, '\r', '\n')
	_, err := c.c.Write(c.buf)
	return err
}

// closeAfter waits up to linger for the server to close the connection
// (so TIME_WAIT stays on its side), then closes ours.
// A server that keeps the connection open is not a failed login.
func (c *conn) closeAfter(linger time.Duration) {
	_ = c.c.SetReadDeadline(time.Now().Add(linger))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.r, maxLine))
	c.c.Close()
}

func (c *conn) Close() error { return c.c.Close() }

// plainIR is the SASL PLAIN initial response for user and password.
func plainIR(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
}

// session is one protocol's client side of a login operation.
type session interface {
	// greet reads the greeting (and for submission sends EHLO).
	greet() error
	auth(mode, user, password string) error
	// command sends the parts as one line and reads the answer: an
	// error unless it is a success.
	command(parts ...string) error
}

// logoutCommand ends a session of p: QUIT, or ManageSieve's LOGOUT.
func logoutCommand(p Protocol) string {
	if p == ManageSieve {
		return "LOGOUT"
	}
	return "QUIT"
}

func newSession(p Protocol, c *conn, helo string) session {
	switch p {
	case POP3:
		return &pop3Session{c}
	case Submission:
		return &smtpSession{c: c, helo: helo}
	default:
		return &sieveSession{c}
	}
}
