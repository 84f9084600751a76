// Package mocksmtp is a small in-process SMTP/LMTP server for the proxy's
// tests and the bench.
//
// By default it is a submission server: greeting, EHLO/HELO, STARTTLS,
// XCLIENT (Postfix's: a new 220 greeting, attributes recorded), AUTH PLAIN
// and LOGIN (initial response or 334), MAIL, RCPT, DATA, RSET, NOOP and
// QUIT; MAIL needs a successful AUTH. Every accepted message is recorded
// with the session's facts; the 250 reply names the server ("queued as M<n>
// on <Name>") so a test can tell where it landed.
//
// For delivery (port 25, LMTP) Config.NoAuth lets MAIL through without
// AUTH and Config.LMTP speaks RFC 2033: LHLO instead of EHLO/HELO and one
// reply per accepted recipient after DATA. Config.Recipients refuses
// unknown recipients; DropAfterBodyBytes and StallFinalReply make failures
// for the proxy's tests.
//
// Fixed replies a test may assert verbatim (<Name> is Config.Name, <addr>
// the recipient's address without angle brackets, <n> the server's message
// counter starting at 1):
//
//	greeting, SMTP      220 <Name> ESMTP mocksmtp
//	greeting, LMTP      220 <Name> LMTP ready
//	DATA accepted, SMTP 250 2.0.0 Ok: queued as M<n> on <Name>
//	DATA accepted, LMTP 250 2.0.0 <<addr>> delivered on <Name>   (one per recipient)
//	unknown recipient   550 5.1.1 <<addr>>: User unknown
//	EHLO/HELO in LMTP   500 5.5.1 Error: this is an LMTP server, use LHLO
//	LHLO in SMTP        500 5.5.1 Error: this is an SMTP server, use EHLO
//	MAIL without AUTH   530 5.7.0 Authentication required
//	AUTH with NoAuth    503 5.5.1 Error: authentication not enabled
//	message too large   552 5.3.4 Error: message file too big
//	too many recipients 452 4.5.3 Error: too many recipients
//
// so an LMTP delivery to bob@example.org on "lmtp1" is answered
// "250 2.0.0 <bob@example.org> delivered on lmtp1" and an unknown
// recipient "550 5.1.1 <nobody@example.org>: User unknown".
//
// Replies are buffered and written when no complete command is waiting in
// the input, so pipelined commands (RFC 2920) get their replies in order,
// in as few writes as the client's batching allows.
package mocksmtp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-mail/switchyard/bench/internal/mockserver"
	"github.com/switchyard-mail/switchyard/internal/tcpserver"
)

// Defaults and bounds.
const (
	// DefaultMaxMessageSize is the SIZE advertised and enforced when
	// Config.MaxMessageSize is 0.
	DefaultMaxMessageSize = 64 << 20
	// MaxRecipients is the most recipients one transaction accepts; more
	// get "452 4.5.3 Error: too many recipients".
	MaxRecipients  = 1000
	maxCommandLine = 64 << 10
	readBufferSize = 32 << 10
)

// Config describes one mock backend.
type Config struct {
	// Name appears in the greeting and in the reply to DATA.
	Name string
	// Users maps login names to passwords.
	Users map[string]string
	// TLS, when set, is offered with STARTTLS.
	TLS *tls.Config
	// XClient lists the XCLIENT attributes advertised; empty: no XCLIENT.
	XClient []string
	// Timeout closes a silent connection (default 30 s).
	Timeout time.Duration

	// LMTP speaks LMTP (RFC 2033): greeting "220 <Name> LMTP ready", LHLO
	// (EHLO and HELO are refused with 500), and after DATA one reply per
	// accepted recipient, in RCPT order.
	LMTP bool
	// NoAuth allows MAIL without AUTH (port 25, LMTP). AUTH is then
	// neither advertised nor accepted.
	NoAuth bool
	// Recipients, when non-empty, is the list of known addresses (compared
	// case-insensitively, without angle brackets); RCPT for any other gets
	// "550 5.1.1 <addr>: User unknown".
	Recipients []string
	// MaxMessageSize is advertised as SIZE and enforced on MAIL's SIZE=
	// and on the body (default DefaultMaxMessageSize).
	MaxMessageSize int
	// LMTPDataReply, in LMTP mode, may override a recipient's reply after
	// DATA: a non-empty return (a whole reply line such as "452 4.2.2
	// Mailbox full") is sent instead of the 250, and the recipient is left
	// out of the recorded message (which is not recorded at all when no
	// recipient got a 250).
	LMTPDataReply func(rcpt string) string

	// DropAfterBodyBytes, when > 0, makes the server close the connection
	// as soon as it has received that many bytes of a message's DATA
	// (as sent, before dot-unstuffing, the final "." line included),
	// without replying and without recording the message. A body shorter
	// than that is delivered normally.
	DropAfterBodyBytes int
	// StallFinalReply delays the reply(ies) to the end of DATA by this
	// long. The message is recorded before the delay (it is "committed";
	// a client that gives up meanwhile has delivered it anyway). Close
	// cuts the delay short.
	StallFinalReply time.Duration

	// DiscardBodies records messages without their body (Data is empty,
	// Size is set): for the bench's large messages.
	DiscardBodies bool
	// CountOnly records nothing: Messages returns nil and only Accepted
	// counts (for long bench runs).
	CountOnly bool
}

// Message is one accepted message with what the session knew.
type Message struct {
	// From is the reverse path, To the first recipient, Rcpts every
	// accepted recipient of the transaction in RCPT order (for LMTP the
	// ones that got a 250 after DATA); all without angle brackets.
	From, To string
	Rcpts    []string
	// Data is the body exactly as received, dot-unstuffed, without the
	// final ".\r\n" (empty with DiscardBodies); Size is its length.
	Data    string
	Size    int
	User    string            // authenticated user
	Helo    string            // last HELO/EHLO/LHLO name (or XCLIENT HELO)
	XClient map[string]string // XCLIENT attributes received (decoded)
}

// Server is a running mock backend.
type Server struct {
	srv   tcpserver.Server
	cfg   Config
	known map[string]bool

	mu       sync.Mutex
	msgs     []Message
	accepted int
	xclients []map[string]string
	logins   int
	failures int
}

// Listen starts a server on addr ("127.0.0.1:0").
func Listen(addr string, cfg Config) (*Server, error) {
	if cfg.Name == "" {
		cfg.Name = "mocksmtp"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	s := &Server{cfg: cfg}
	if len(cfg.Recipients) > 0 {
		s.known = make(map[string]bool, len(cfg.Recipients))
		for _, r := range cfg.Recipients {
			s.known[strings.ToLower(strings.Trim(r, "<>"))] = true
		}
	}
	if err := s.srv.Listen(addr, s.serve); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.srv.Addr() }

// Name is the server's name.
func (s *Server) Name() string { return s.cfg.Name }

// Close stops the server and closes every connection.
func (s *Server) Close() error { return s.srv.Close() }

// Messages returns (a copy of the list of) the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Accepted returns how many messages were accepted so far (counted with
// CountOnly too).
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// XClients returns the attributes of every XCLIENT command received.
func (s *Server) XClients() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]string(nil), s.xclients...)
}

// Logins returns the successful and failed authentications so far.
func (s *Server) Logins() (ok, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins, s.failures
}

func (s *Server) serve(c net.Conn) {
	sess := &session{s: s, c: c, r: bufio.NewReaderSize(c, readBufferSize), w: bufio.NewWriterSize(c, 4096)}
	sess.run()
}

type session struct {
	s       *Server
	c       net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	tls     bool
	helo    string
	user    string
	xclient map[string]string
	inMail  bool
	from    string
	to      []string
}

var (
	errLineTooLong = errors.New("line too long")
	errDropped     = errors.New("connection dropped mid-body (DropAfterBodyBytes)")
)

func (ss *session) line() (string, error) {
	_ = ss.c.SetReadDeadline(time.Now().Add(ss.s.cfg.Timeout))
	var b []byte
	for {
		chunk, isPrefix, err := ss.r.ReadLine()
		if err != nil {
			return "", err
		}
		if !isPrefix && b == nil {
			return string(chunk), nil
		}
		b = append(b, chunk...)
		if len(b) > maxCommandLine {
			return "", errLineTooLong
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// reply queues lines and writes them out unless a complete command is
// already waiting (pipelining: its reply goes out with these).
func (ss *session) reply(lines ...string) error {
	for _, l := range lines {
		ss.w.WriteString(l)
		ss.w.WriteString("\r\n")
	}
	if n := ss.r.Buffered(); n > 0 {
		if b, _ := ss.r.Peek(n); bytes.IndexByte(b, '\n') >= 0 {
			return nil
		}
	}
	return ss.flush()
}

func (ss *session) flush() error {
	_ = ss.c.SetWriteDeadline(time.Now().Add(ss.s.cfg.Timeout))
	return ss.w.Flush()
}

func (ss *session) greet() error {
	if ss.s.cfg.LMTP {
		return ss.reply("220 " + ss.s.cfg.Name + " LMTP ready")
	}
	return ss.reply("220 " + ss.s.cfg.Name + " ESMTP mocksmtp")
}

func (ss *session) reset() { ss.inMail, ss.from, ss.to = false, "", nil }

func (ss *session) hello(arg string) error {
	ss.helo = arg
	ss.reset()
	lines := []string{"250-" + ss.s.cfg.Name, "250-PIPELINING", fmt.Sprintf("250-SIZE %d", ss.s.cfg.MaxMessageSize),
		"250-8BITMIME", "250-SMTPUTF8", "250-ENHANCEDSTATUSCODES"}
	if ss.s.cfg.TLS != nil && !ss.tls {
		lines = append(lines, "250-STARTTLS")
	}
	if len(ss.s.cfg.XClient) > 0 {
		lines = append(lines, "250-XCLIENT "+strings.Join(ss.s.cfg.XClient, " "))
	}
	if !ss.s.cfg.NoAuth {
		lines = append(lines, "250-AUTH PLAIN LOGIN")
	}
	lines[len(lines)-1] = "250 " + lines[len(lines)-1][4:]
	return ss.reply(lines...)
}

func (ss *session) run() {
	if ss.greet() != nil {
		return
	}
	lmtp := ss.s.cfg.LMTP
	for {
		l, err := ss.line()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(l, " ")
		switch strings.ToUpper(verb) {
		case "LHLO":
			if !lmtp {
				err = ss.reply("500 5.5.1 Error: this is an SMTP server, use EHLO")
				break
			}
			err = ss.hello(arg)
		case "EHLO":
			if lmtp {
				err = ss.reply("500 5.5.1 Error: this is an LMTP server, use LHLO")
				break
			}
			err = ss.hello(arg)
		case "HELO":
			if lmtp {
				err = ss.reply("500 5.5.1 Error: this is an LMTP server, use LHLO")
				break
			}
			ss.helo = arg
			ss.reset()
			err = ss.reply("250 " + ss.s.cfg.Name)
		case "STARTTLS":
			if ss.s.cfg.TLS == nil || ss.tls {
				err = ss.reply("502 5.5.1 no")
				break
			}
			ss.w.WriteString("220 2.0.0 Ready to start TLS\r\n")
			if ss.flush() != nil {
				return
			}
			tc := tls.Server(ss.c, ss.s.cfg.TLS)
			_ = tc.SetDeadline(time.Now().Add(ss.s.cfg.Timeout))
			if tc.Handshake() != nil {
				return
			}
			_ = tc.SetDeadline(time.Time{})
			// Whatever was pipelined after STARTTLS in the clear is dropped
			// with the old reader (RFC 3207).
			ss.c, ss.r, ss.w, ss.tls, ss.helo = tc, bufio.NewReaderSize(tc, readBufferSize), bufio.NewWriterSize(tc, 4096), true, ""
			ss.reset()
		case "XCLIENT":
			err = ss.xclientCommand(arg)
		case "AUTH":
			err = ss.auth(arg)
		case "MAIL":
			err = ss.mail(arg)
		case "RCPT":
			err = ss.rcpt(arg)
		case "DATA":
			err = ss.data()
		case "RSET":
			ss.reset()
			err = ss.reply("250 2.0.0 Ok")
		case "NOOP":
			err = ss.reply("250 2.0.0 Ok")
		case "QUIT":
			_ = ss.reply("221 2.0.0 Bye")
			_ = ss.flush()
			return
		default:
			err = ss.reply("502 5.5.2 Error: command not recognized")
		}
		if err != nil {
			return
		}
	}
}

// path splits "FROM:<a@b> SIZE=10" (after the keyword) into the address
// without brackets and the parameters; ok is false without the keyword.
func path(arg, keyword string) (addr string, params []string, ok bool) {
	if len(arg) < len(keyword) || !strings.EqualFold(arg[:len(keyword)], keyword) {
		return "", nil, false
	}
	rest := strings.TrimLeft(arg[len(keyword):], " ")
	if strings.HasPrefix(rest, "<") {
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return "", nil, false
		}
		return rest[1:end], strings.Fields(rest[end+1:]), true
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", nil, false
	}
	return f[0], f[1:], true
}

func (ss *session) mail(arg string) error {
	if !ss.s.cfg.NoAuth && ss.user == "" {
		return ss.reply("530 5.7.0 Authentication required")
	}
	if ss.inMail {
		return ss.reply("503 5.5.1 Error: nested MAIL command")
	}
	from, params, ok := path(arg, "FROM:")
	if !ok {
		return ss.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
	}
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(k, "SIZE") {
			var n int
			if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n < 0 {
				return ss.reply("501 5.5.4 Bad SIZE parameter")
			}
			if n > ss.s.cfg.MaxMessageSize {
				return ss.reply("552 5.3.4 Error: message file too big")
			}
		}
	}
	ss.inMail, ss.from, ss.to = true, from, nil
	return ss.reply("250 2.1.0 Ok")
}

func (ss *session) rcpt(arg string) error {
	if !ss.inMail {
		return ss.reply("503 5.5.1 Error: need MAIL command")
	}
	to, _, ok := path(arg, "TO:")
	if !ok || to == "" {
		return ss.reply("501 5.5.4 Syntax: RCPT TO:<address>")
	}
	if ss.s.known != nil && !ss.s.known[strings.ToLower(to)] {
		return ss.reply("550 5.1.1 <" + to + ">: User unknown")
	}
	if len(ss.to) >= MaxRecipients {
		return ss.reply("452 4.5.3 Error: too many recipients")
	}
	ss.to = append(ss.to, to)
	return ss.reply("250 2.1.5 Ok")
}

func (ss *session) xclientCommand(arg string) error {
	if len(ss.s.cfg.XClient) == 0 {
		return ss.reply("550 5.7.0 Error: insufficient authorization")
	}
	if ss.inMail {
		return ss.reply("503 5.5.1 Error: MAIL transaction in progress")
	}
	attrs := map[string]string{}
	for _, kv := range strings.Fields(arg) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return ss.reply("501 5.5.4 Bad XCLIENT syntax")
		}
		attrs[strings.ToUpper(k)] = unxtext(v)
	}
	if _, bad := attrs["LOGIN"]; bad {
		return ss.reply("501 5.5.4 LOGIN not expected from a proxy")
	}
	ss.s.mu.Lock()
	ss.s.xclients = append(ss.s.xclients, attrs)
	ss.s.mu.Unlock()
	ss.xclient, ss.helo, ss.user = attrs, attrs["HELO"], ""
	ss.reset()
	return ss.greet()
}

func unxtext(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '+' && i+2 < len(v) {
			var c byte
			if _, err := fmt.Sscanf(v[i+1:i+3], "%02X", &c); err == nil {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

func (ss *session) auth(arg string) error {
	if ss.s.cfg.NoAuth {
		return ss.reply("503 5.5.1 Error: authentication not enabled")
	}
	if ss.user != "" {
		return ss.reply("503 5.5.1 Error: already authenticated")
	}
	mech, ir, hasIR := strings.Cut(arg, " ")
	var user, pass string
	switch strings.ToUpper(mech) {
	case "PLAIN":
		if !hasIR {
			if err := ss.reply("334 "); err != nil {
				return err
			}
			l, err := ss.line()
			if err != nil {
				return err
			}
			ir = l
		}
		if ir == "*" {
			return ss.reply("501 5.0.0 Authentication aborted")
		}
		var ok bool
		if user, pass, ok = mockserver.DecodePlain(ir); !ok {
			return ss.reply("501 5.5.2 Cannot decode response")
		}
	case "LOGIN":
		var vals [2]string
		for i, ch := range []string{"VXNlcm5hbWU6", "UGFzc3dvcmQ6"} {
			if i == 0 && hasIR {
				v, _ := base64.StdEncoding.DecodeString(ir)
				vals[0] = string(v)
				continue
			}
			if err := ss.reply("334 " + ch); err != nil {
				return err
			}
			l, err := ss.line()
			if err != nil {
				return err
			}
			v, err := base64.StdEncoding.DecodeString(l)
			if err != nil {
				return ss.reply("501 5.5.2 Cannot decode response")
			}
			vals[i] = string(v)
		}
		user, pass = vals[0], vals[1]
	default:
		return ss.reply("504 5.5.4 Unrecognized authentication type")
	}
	ss.s.mu.Lock()
	want, ok := ss.s.cfg.Users[user]
	ok = ok && want == pass
	if ok {
		ss.s.logins++
	} else {
		ss.s.failures++
	}
	ss.s.mu.Unlock()
	if !ok {
		return ss.reply("535 5.7.8 Error: authentication failed: on " + ss.s.cfg.Name)
	}
	ss.user = user
	return ss.reply("235 2.7.0 Authentication successful")
}

// readBody reads DATA up to the "." line, unstuffing dots. It keeps the
// bytes when keep is set and the body fits maxSize; size counts them all.
func (ss *session) readBody(keep bool, maxSize, dropAfter int) (body []byte, size int, err error) {
	bol := true // at the beginning of a line
	raw := 0
	for {
		if ss.r.Buffered() == 0 { // about to read from the socket
			_ = ss.c.SetReadDeadline(time.Now().Add(ss.s.cfg.Timeout))
		}
		chunk, err := ss.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, 0, err
		}
		raw += len(chunk)
		if dropAfter > 0 && raw >= dropAfter {
			return nil, 0, errDropped
		}
		complete := err == nil
		if bol && len(chunk) > 0 && chunk[0] == '.' {
			if complete && (len(chunk) == 2 || (len(chunk) == 3 && chunk[1] == '\r')) {
				return body, size, nil
			}
			chunk = chunk[1:]
		}
		bol = complete
		size += len(chunk)
		if keep && size <= maxSize {
			body = append(body, chunk...)
		}
	}
}

func (ss *session) data() error {
	if !ss.inMail {
		return ss.reply("503 5.5.1 Error: need MAIL command")
	}
	if len(ss.to) == 0 {
		return ss.reply("503 5.5.1 Error: need RCPT command")
	}
	ss.w.WriteString("354 End data with <CR><LF>.<CR><LF>\r\n")
	if err := ss.flush(); err != nil {
		return err
	}
	cfg := &ss.s.cfg
	keep := !cfg.DiscardBodies && !cfg.CountOnly
	body, size, err := ss.readBody(keep, cfg.MaxMessageSize, cfg.DropAfterBodyBytes)
	if err != nil {
		return err
	}
	from, rcpts := ss.from, ss.to
	ss.reset()
	if size > cfg.MaxMessageSize {
		return ss.reply("552 5.3.4 Error: message file too big")
	}

	var replies []string
	delivered := rcpts
	if cfg.LMTP {
		delivered = make([]string, 0, len(rcpts))
		for _, r := range rcpts {
			if cfg.LMTPDataReply != nil {
				if l := cfg.LMTPDataReply(r); l != "" {
					replies = append(replies, l)
					continue
				}
			}
			delivered = append(delivered, r)
			replies = append(replies, "250 2.0.0 <"+r+"> delivered on "+cfg.Name)
		}
	}
	n := 0
	if len(delivered) > 0 {
		m := Message{From: from, To: delivered[0], Rcpts: delivered, Data: string(body), Size: size,
			User: ss.user, Helo: ss.helo, XClient: ss.xclient}
		ss.s.mu.Lock()
		ss.s.accepted++
		n = ss.s.accepted
		if !cfg.CountOnly {
			ss.s.msgs = append(ss.s.msgs, m)
		}
		ss.s.mu.Unlock()
	}
	if !cfg.LMTP {
		replies = []string{fmt.Sprintf("250 2.0.0 Ok: queued as M%d on %s", n, cfg.Name)}
	}
	if cfg.StallFinalReply > 0 {
		t := time.NewTimer(cfg.StallFinalReply)
		select {
		case <-t.C:
		case <-ss.s.srv.Done():
			t.Stop()
			return net.ErrClosed
		}
	}
	return ss.reply(replies...)
}
