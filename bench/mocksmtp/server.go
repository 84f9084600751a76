// Package mocksmtp is a small in-process SMTP submission server for the
// proxy's tests and the bench: greeting, EHLO/HELO, STARTTLS, XCLIENT
// (Postfix's: a new 220 greeting, attributes recorded), AUTH PLAIN and
// LOGIN (initial response or 334), MAIL, RCPT, DATA, RSET, NOOP and QUIT.
// MAIL needs a successful AUTH. Every accepted message is recorded with
// the session's facts; the 250 reply names the server ("queued on
// <Name>") so a test can tell where it landed.
package mocksmtp

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
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
}

// Message is one accepted message with what the session knew.
type Message struct {
	From, To string
	Data     string
	User     string            // authenticated user
	Helo     string            // last HELO/EHLO name
	XClient  map[string]string // XCLIENT attributes received (decoded)
}

// Server is a running mock backend.
type Server struct {
	cfg Config
	ln  net.Listener

	mu       sync.Mutex
	msgs     []Message
	xclients []map[string]string
	logins   int
	failures int
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// Listen starts a server on addr ("127.0.0.1:0").
func Listen(addr string, cfg Config) (*Server, error) {
	if cfg.Name == "" {
		cfg.Name = "mocksmtp"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and closes every connection.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
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

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			sess := &session{s: s, c: c, r: bufio.NewReaderSize(c, 4096)}
			sess.run()
		}()
	}
}

type session struct {
	s       *Server
	c       net.Conn
	r       *bufio.Reader
	tls     bool
	helo    string
	user    string
	xclient map[string]string
	from    string
	to      []string
}

var errLineTooLong = errors.New("line too long")

func (ss *session) line() (string, error) {
	_ = ss.c.SetReadDeadline(time.Now().Add(ss.s.cfg.Timeout))
	var b []byte
	for {
		chunk, isPrefix, err := ss.r.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > 64<<10 {
			return "", errLineTooLong
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

func (ss *session) reply(lines ...string) error {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	_, err := ss.c.Write([]byte(b.String()))
	return err
}

func (ss *session) greet() error {
	return ss.reply("220 " + ss.s.cfg.Name + " ESMTP mocksmtp")
}

func (ss *session) run() {
	if ss.greet() != nil {
		return
	}
	for {
		l, err := ss.line()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(l, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ss.helo, ss.from, ss.to = arg, "", nil
			lines := []string{"250-" + ss.s.cfg.Name, "250-PIPELINING", "250-8BITMIME", "250-ENHANCEDSTATUSCODES"}
			if ss.s.cfg.TLS != nil && !ss.tls {
				lines = append(lines, "250-STARTTLS")
			}
			if len(ss.s.cfg.XClient) > 0 {
				lines = append(lines, "250-XCLIENT "+strings.Join(ss.s.cfg.XClient, " "))
			}
			lines = append(lines, "250 AUTH PLAIN LOGIN")
			err = ss.reply(lines...)
		case "HELO":
			ss.helo = arg
			err = ss.reply("250 " + ss.s.cfg.Name)
		case "STARTTLS":
			if ss.s.cfg.TLS == nil || ss.tls {
				err = ss.reply("502 5.5.1 no")
				break
			}
			if err = ss.reply("220 2.0.0 Ready to start TLS"); err != nil {
				return
			}
			tc := tls.Server(ss.c, ss.s.cfg.TLS)
			if tc.Handshake() != nil {
				return
			}
			ss.c, ss.r, ss.tls, ss.helo = tc, bufio.NewReaderSize(tc, 4096), true, ""
		case "XCLIENT":
			err = ss.xclientCommand(arg)
		case "AUTH":
			err = ss.auth(arg)
		case "MAIL":
			if ss.user == "" {
				err = ss.reply("530 5.7.0 Authentication required")
				break
			}
			ss.from, ss.to = strings.TrimPrefix(arg, "FROM:"), nil
			err = ss.reply("250 2.1.0 Ok")
		case "RCPT":
			if ss.from == "" {
				err = ss.reply("503 5.5.1 Error: need MAIL command")
				break
			}
			ss.to = append(ss.to, strings.TrimPrefix(arg, "TO:"))
			err = ss.reply("250 2.1.5 Ok")
		case "DATA":
			err = ss.data()
		case "RSET":
			ss.from, ss.to = "", nil
			err = ss.reply("250 2.0.0 Ok")
		case "NOOP":
			err = ss.reply("250 2.0.0 Ok")
		case "QUIT":
			_ = ss.reply("221 2.0.0 Bye")
			return
		default:
			err = ss.reply("502 5.5.2 Error: command not recognized")
		}
		if err != nil {
			return
		}
	}
}

func (ss *session) xclientCommand(arg string) error {
	if len(ss.s.cfg.XClient) == 0 {
		return ss.reply("550 5.7.0 Error: insufficient authorization")
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
	ss.xclient, ss.helo, ss.user, ss.from, ss.to = attrs, attrs["HELO"], "", "", nil
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
		raw, err := base64.StdEncoding.DecodeString(ir)
		parts := strings.Split(string(raw), "\x00")
		if err != nil || len(parts) != 3 {
			return ss.reply("501 5.5.2 Cannot decode response")
		}
		user, pass = parts[1], parts[2]
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

func (ss *session) data() error {
	if ss.from == "" || len(ss.to) == 0 {
		return ss.reply("503 5.5.1 Error: need RCPT command")
	}
	if err := ss.reply("354 End data with <CR><LF>.<CR><LF>"); err != nil {
		return err
	}
	var body strings.Builder
	for {
		l, err := ss.line()
		if err != nil {
			return err
		}
		if l == "." {
			break
		}
		body.WriteString(strings.TrimPrefix(l, "."))
		body.WriteString("\r\n")
		if body.Len() > 1<<20 {
			return errLineTooLong
		}
	}
	m := Message{From: ss.from, To: strings.Join(ss.to, ","), Data: body.String(), User: ss.user, Helo: ss.helo, XClient: ss.xclient}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, m)
	n := len(ss.s.msgs)
	ss.s.mu.Unlock()
	ss.from, ss.to = "", nil
	return ss.reply(fmt.Sprintf("250 2.0.0 Ok: queued as M%d on %s", n, ss.s.cfg.Name))
}
