// Package imapclient is a minimal IMAP client for the bench and the tests:
// one connection, one command at a time, few allocations on the paths a
// login storm uses (greeting, STARTTLS, LOGIN, AUTHENTICATE PLAIN, NOOP,
// LOGOUT). Literals in responses are read (or skipped) by count, so bulk
// FETCH data costs no line parsing.
package imapclient

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-mail/switchyard/bench/internal/imapwire"
)

// MaxLine bounds one response line (literals are counted apart).
const MaxLine = 64 << 10

// MaxCollect bounds the literal bytes kept for one collected response.
const MaxCollect = 64 << 20

var (
	// ErrLineTooLong: the server sent a line longer than MaxLine.
	ErrLineTooLong = errors.New("imapclient: response line too long")
	// ErrUnexpectedContinuation: a "+" where none was expected.
	ErrUnexpectedContinuation = errors.New("imapclient: unexpected continuation request")
	// ErrBye: the server closed the session (untagged BYE) uninvited.
	ErrBye = errors.New("imapclient: server said BYE")
)

// StatusError is a tagged NO or BAD.
type StatusError struct {
	Cmd    string // command name, e.g. "LOGIN"
	Status string // "NO" or "BAD"
	Text   string // the rest of the line
}

func (e *StatusError) Error() string {
	return "imapclient: " + e.Cmd + ": " + e.Status + " " + e.Text
}

// Response is the result of one command.
type Response struct {
	Status string // OK, NO or BAD
	Text   string // after the status
	// Untagged lines (without "* " and CRLF) and the literals they carried,
	// in order; kept only when the command was run with collect.
	Untagged []string
	Literals [][]byte
	// LiteralBytes counts literal data received, kept or not.
	LiteralBytes int64
}

// Client is one IMAP connection. It is not safe for concurrent use.
type Client struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	tagN uint64
	tag  []byte
	buf  []byte
	caps []string
	bye  bool
}

// New wraps an established connection (plain or TLS) with 4 KiB buffers.
func New(conn net.Conn) *Client { return NewSize(conn, 4096, 4096) }

// NewSize is New with chosen buffer sizes (small ones suit thousands of
// idle connections).
func NewSize(conn net.Conn, rsize, wsize int) *Client {
	return &Client{conn: conn, br: bufio.NewReaderSize(conn, rsize), bw: bufio.NewWriterSize(conn, wsize)}
}

// Conn returns the current connection (a *tls.Conn after StartTLS).
func (c *Client) Conn() net.Conn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// SetDeadline sets the connection's deadline for reads and writes.
func (c *Client) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// Buffered reports how many received bytes have not been consumed yet.
func (c *Client) Buffered() int { return c.br.Buffered() }

// Caps returns the capabilities last announced (greeting, CAPABILITY or a
// response code).
func (c *Client) Caps() []string { return c.caps }

// HasCap reports whether name was among the last capabilities announced.
func (c *Client) HasCap(name string) bool {
	for _, x := range c.caps {
		if strings.EqualFold(x, name) {
			return true
		}
	}
	return false
}

// readLine returns one line without CRLF; valid until the next read.
func (c *Client) readLine() ([]byte, error) { return imapwire.ReadLine(c.br, MaxLine, ErrLineTooLong) }

// noteCaps notes a "[CAPABILITY a b c] ..." response code.
func (c *Client) noteCaps(text []byte) {
	if bytes.HasPrefix(text, []byte("[CAPABILITY ")) {
		end := bytes.IndexByte(text, ']')
		if end > 0 {
			c.caps = strings.Fields(string(text[len("[CAPABILITY "):end]))
		}
	}
}

// Greeting reads the server's greeting; it returns its text ("OK ..." or
// "PREAUTH ...") or an error for BYE and anything else.
func (c *Client) Greeting() (string, error) {
	line, err := c.readLine()
	if err != nil {
		return "", err
	}
	if !bytes.HasPrefix(line, []byte("* ")) {
		return "", fmt.Errorf("imapclient: bad greeting %q", clip(line))
	}
	rest := line[2:]
	switch {
	case bytes.HasPrefix(rest, []byte("OK ")), bytes.HasPrefix(rest, []byte("PREAUTH ")):
		sp := bytes.IndexByte(rest, ' ')
		c.noteCaps(rest[sp+1:])
		return string(rest), nil
	case bytes.HasPrefix(rest, []byte("BYE")):
		return "", fmt.Errorf("%w: %s", ErrBye, clip(rest))
	}
	return "", fmt.Errorf("imapclient: bad greeting %q", clip(line))
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func (c *Client) nextTag() []byte {
	c.tagN++
	c.tag = append(c.tag[:0], 'a')
	c.tag = strconv.AppendUint(c.tag, c.tagN, 10)
	return c.tag
}

// readResponse reads until the tagged answer to tag. If allowCont, a
// continuation request ends it too (cont is true, resp nil).
func (c *Client) readResponse(cmd string, tag []byte, collect, allowCont bool) (resp *Response, cont bool, err error) {
	var r Response
	var kept int64
	for {
		line, err := c.readLine()
		if err != nil {
			return nil, false, err
		}
		if len(line) > 0 && line[0] == '+' {
			if allowCont {
				return nil, true, nil
			}
			return nil, false, ErrUnexpectedContinuation
		}
		if len(line) > len(tag) && line[len(tag)] == ' ' && bytes.Equal(line[:len(tag)], tag) {
			rest := line[len(tag)+1:]
			st, text, _ := bytes.Cut(rest, []byte{' '})
			r.Status = string(st)
			r.Text = string(text)
			if r.Status == "OK" {
				c.noteCaps(text)
				return &r, false, nil
			}
			if r.Status != "NO" && r.Status != "BAD" {
				return nil, false, fmt.Errorf("imapclient: %s: bad tagged response %q", cmd, clip(line))
			}
			return &r, false, &StatusError{Cmd: cmd, Status: r.Status, Text: r.Text}
		}
		if !bytes.HasPrefix(line, []byte("* ")) {
			return nil, false, fmt.Errorf("imapclient: %s: unexpected line %q", cmd, clip(line))
		}
		var full []byte
		if collect {
			full = append(full, line[2:]...)
		}
		if bytes.HasPrefix(line[2:], []byte("BYE")) {
			c.bye = true
		}
		if bytes.HasPrefix(line[2:], []byte("CAPABILITY ")) {
			c.caps = strings.Fields(string(line[2+len("CAPABILITY "):]))
		}
		// Literals: the line goes on after n bytes.
		for {
			n, ok := imapwire.LiteralSize(line)
			if !ok {
				break
			}
			r.LiteralBytes += n
			if collect {
				if kept+n > MaxCollect {
					return nil, false, fmt.Errorf("imapclient: %s: response larger than %d bytes", cmd, MaxCollect)
				}
				data := make([]byte, n)
				if _, err := io.ReadFull(c.br, data); err != nil {
					return nil, false, err
				}
				kept += n
				r.Literals = append(r.Literals, data)
				full = append(full, "\r\n"...)
				full = append(full, data...)
			} else if _, err := c.br.Discard(int(n)); err != nil {
				return nil, false, err
			}
			if line, err = c.readLine(); err != nil {
				return nil, false, err
			}
			if collect {
				full = append(full, line...)
			}
		}
		if collect {
			r.Untagged = append(r.Untagged, string(full))
		}
	}
}

// Exec sends "tag <line>" and reads the answer. line must not contain
// CRLF (use Login and friends for strings that need literals).
func (c *Client) Exec(collect bool, line string) (*Response, error) {
	name, _, _ := strings.Cut(line, " ")
	tag := c.nextTag()
	c.buf = append(c.buf[:0], tag...)
	c.buf = append(c.buf, ' ')
	c.buf = append(c.buf, line...)
	c.buf = append(c.buf, '\r', '\n')
	if err := c.send(c.buf); err != nil {
		return nil, err
	}
	r, _, err := c.readResponse(strings.ToUpper(name), tag, collect, false)
	return r, err
}

func (c *Client) send(b []byte) error {
	if _, err := c.bw.Write(b); err != nil {
		return err
	}
	return c.bw.Flush()
}

// Noop sends NOOP.
func (c *Client) Noop() error {
	_, err := c.Exec(false, "NOOP")
	return err
}

// Capability asks for and returns the capabilities.
func (c *Client) Capability() ([]string, error) {
	if _, err := c.Exec(false, "CAPABILITY"); err != nil {
		return nil, err
	}
	return c.caps, nil
}

// quotable says whether s can go in a quoted string.
func quotable(s string) bool {
	if len(s) > 1000 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if ch := s[i]; ch == '\r' || ch == '\n' || ch == 0 || ch >= 0x80 {
			return false
		}
	}
	return true
}

func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// Login sends LOGIN with quoted strings, or literals where needed
// (non-synchronizing if the server announced LITERAL+).
func (c *Client) Login(user, pass string) error {
	tag := c.nextTag()
	c.buf = append(c.buf[:0], tag...)
	c.buf = append(c.buf, " LOGIN "...)
	for i, s := range [2]string{user, pass} {
		if i == 1 {
			c.buf = append(c.buf, ' ')
		}
		if quotable(s) {
			c.buf = appendQuoted(c.buf, s)
			continue
		}
		var err error
		if c.buf, err = c.literal(c.buf, tag, s); err != nil {
			return err
		}
	}
	c.buf = append(c.buf, '\r', '\n')
	if err := c.send(c.buf); err != nil {
		return err
	}
	_, _, err := c.readResponse("LOGIN", tag, false, false)
	return err
}

// literal appends the literal announcement for s and, for a synchronizing
// one, sends the line so far and waits for the go-ahead. It returns the
// buffer to continue with.
func (c *Client) literal(b, tag []byte, s string) ([]byte, error) {
	b = append(b, '{')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	if c.HasCap("LITERAL+") {
		b = append(b, "+}\r\n"...)
		return append(b, s...), nil
	}
	b = append(b, "}\r\n"...)
	if err := c.send(b); err != nil {
		return nil, err
	}
	_, cont, err := c.readResponse("LOGIN", tag, false, true)
	if err != nil {
		return nil, err
	}
	if !cont {
		return nil, errors.New("imapclient: literal refused")
	}
	return append(b[:0], s...), nil
}

// SendLiteralLogin sends LOGIN with both arguments as synchronizing
// literals whatever the server announced (the way some proxies replay
// logins), for tests.
func (c *Client) SendLiteralLogin(user, pass string) error {
	saved := c.caps
	c.caps = nil
	defer func() { c.caps = saved }()
	tag := c.nextTag()
	b := append([]byte(nil), tag...)
	b = append(b, " LOGIN "...)
	var err error
	if b, err = c.literal(b, tag, user); err != nil {
		return err
	}
	b = append(b, ' ')
	if b, err = c.literal(b, tag, pass); err != nil {
		return err
	}
	b = append(b, '\r', '\n')
	if err := c.send(b); err != nil {
		return err
	}
	_, _, err = c.readResponse("LOGIN", tag, false, false)
	return err
}

// AuthPlain runs AUTHENTICATE PLAIN, with the credentials as an initial
// response (SASL-IR) when ir is set, else after the server's "+".
func (c *Client) AuthPlain(user, pass string, ir bool) error {
	raw := make([]byte, 0, 2*len(user)+len(pass)+2)
	raw = append(raw, 0)
	raw = append(raw, user...)
	raw = append(raw, 0)
	raw = append(raw, pass...)
	enc := base64.StdEncoding.EncodeToString(raw)
	tag := c.nextTag()
	c.buf = append(c.buf[:0], tag...)
	c.buf = append(c.buf, " AUTHENTICATE PLAIN"...)
	if ir {
		c.buf = append(c.buf, ' ')
		c.buf = append(c.buf, enc...)
		c.buf = append(c.buf, '\r', '\n')
		if err := c.send(c.buf); err != nil {
			return err
		}
		_, _, err := c.readResponse("AUTHENTICATE", tag, false, false)
		return err
	}
	return c.saslSteps(tag, enc)
}

// AuthLogin runs AUTHENTICATE LOGIN (user name, then password, each after
// a "+").
func (c *Client) AuthLogin(user, pass string) error {
	tag := c.nextTag()
	c.buf = append(c.buf[:0], tag...)
	c.buf = append(c.buf, " AUTHENTICATE LOGIN"...)
	return c.saslSteps(tag, base64.StdEncoding.EncodeToString([]byte(user)), base64.StdEncoding.EncodeToString([]byte(pass)))
}

func (c *Client) saslSteps(tag []byte, answers ...string) error {
	c.buf = append(c.buf, '\r', '\n')
	if err := c.send(c.buf); err != nil {
		return err
	}
	for _, a := range answers {
		_, cont, err := c.readResponse("AUTHENTICATE", tag, false, true)
		if err != nil {
			return err
		}
		if !cont {
			return errors.New("imapclient: AUTHENTICATE ended early")
		}
		if err := c.send(append(append(c.buf[:0], a...), '\r', '\n')); err != nil {
			return err
		}
	}
	_, _, err := c.readResponse("AUTHENTICATE", tag, false, false)
	return err
}

// StartTLS sends STARTTLS and runs the TLS handshake; afterwards the client
// talks through the *tls.Conn (see Conn).
func (c *Client) StartTLS(cfg *tls.Config) error {
	if _, err := c.Exec(false, "STARTTLS"); err != nil {
		return err
	}
	if c.br.Buffered() > 0 {
		return errors.New("imapclient: data after STARTTLS go-ahead")
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		return err
	}
	c.conn = tc
	c.br.Reset(tc)
	c.bw.Reset(tc)
	c.caps = nil
	return nil
}

// ID sends ID with the given key/value pairs (NIL when there are none).
func (c *Client) ID(kv ...string) (*Response, error) {
	b := []byte("ID ")
	if len(kv) == 0 {
		b = append(b, "NIL"...)
	} else {
		b = append(b, '(')
		for i, s := range kv {
			if i > 0 {
				b = append(b, ' ')
			}
			b = appendQuoted(b, s)
		}
		b = append(b, ')')
	}
	return c.Exec(true, string(b))
}

// Select selects a mailbox.
func (c *Client) Select(mailbox string) (*Response, error) {
	return c.Exec(true, "SELECT "+string(appendQuoted(nil, mailbox)))
}

// Fetch runs FETCH (or UID FETCH) set items, e.g. Fetch(false, "1",
// "BODY[]", true). Without collect, literal data is skipped and only
// counted (Response.LiteralBytes).
func (c *Client) Fetch(uid bool, set, items string, collect bool) (*Response, error) {
	cmd := "FETCH "
	if uid {
		cmd = "UID FETCH "
	}
	return c.Exec(collect, cmd+set+" "+items)
}

// Idle sends IDLE and waits for the server's "+".
func (c *Client) Idle() error {
	tag := c.nextTag()
	c.buf = append(append(c.buf[:0], tag...), " IDLE\r\n"...)
	if err := c.send(c.buf); err != nil {
		return err
	}
	_, cont, err := c.readResponse("IDLE", tag, false, true)
	if err != nil {
		return err
	}
	if !cont {
		return errors.New("imapclient: IDLE refused")
	}
	return nil
}

// IdleDone ends IDLE and reads its tagged answer (IDLE's tag is still the
// last one issued).
func (c *Client) IdleDone() error {
	if err := c.send([]byte("DONE\r\n")); err != nil {
		return err
	}
	_, _, err := c.readResponse("IDLE", c.tag, false, false)
	return err
}

// Logout sends LOGOUT, reads the BYE and the OK, then waits up to linger
// for the server to close first, so that TIME_WAIT stays on the server's
// side (a load generator that closes first runs out of ports). The
// connection is closed on return.
func (c *Client) Logout(linger time.Duration) error {
	defer c.conn.Close()
	if _, err := c.Exec(false, "LOGOUT"); err != nil {
		return err
	}
	if linger > 0 {
		c.conn.SetReadDeadline(time.Now().Add(linger))
		var one [1]byte
		for i := 0; i < 4; i++ { // anything after the OK is unexpected
			if _, err := c.br.Read(one[:]); err != nil {
				break
			}
		}
	}
	return nil
}

// WriteRaw sends bytes as they are (for tests of odd input).
func (c *Client) WriteRaw(b []byte) error { return c.send(b) }

// ReadLine reads one raw line without CRLF (for tests).
func (c *Client) ReadLine() (string, error) {
	l, err := c.readLine()
	return string(l), err
}
