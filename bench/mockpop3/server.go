// Package mockpop3 is a small in-process POP3 server with one maildrop
// holding one marker message that names the server. It is the backend of
// the in-process POP3 tests and of the bench.
//
// It speaks enough POP3 for a proxy to be tested through it: greeting,
// CAPA, XCLIENT (ADDR, PORT, SESSION, TTL, as Dovecot's pop3-login takes
// it), USER/PASS, AUTH PLAIN (initial response or continuation), then
// STAT, LIST, UIDL, RETR 1, TOP, NOOP, QUIT. It can read a PROXY v1/v2
// header first. It is not an event-loop server: one goroutine per
// connection is fine for tests.
package mockpop3

import (
	"bufio"
	"fmt"
	"net"
	"strings"

	"github.com/switchyard-mail/switchyard/bench/internal/mockserver"
)

// Config describes one mock backend.
type Config struct {
	// Name is in the greeting and the marker message
	// ("Subject: Marker: you are on <Name>").
	Name string
	// Users maps login names to passwords.
	Users map[string]string
	// Locked users get -ERR [IN-USE] after a correct password.
	Locked map[string]bool
	// AcceptProxyHeader reads an optional PROXY v1/v2 header first.
	AcceptProxyHeader bool
	// XClient advertises XCLIENT and honours it.
	XClient bool
	// NoSASL advertises no SASL mechanism (USER/PASS only).
	NoSASL bool
	// Pipelining advertises PIPELINING.
	Pipelining bool
}

// Server is a running mock backend: Addr, Close, Logins and
// LastClientAddr are mockserver.Backend's.
type Server = mockserver.Mock[Config]

// Listen starts a server on addr ("127.0.0.1:0").
func Listen(addr string, cfg Config) (*Server, error) {
	return mockserver.Listen(addr, cfg, serve)
}

// message is the maildrop's one message, naming the server.
func (cfg *Config) message() string {
	return fmt.Sprintf("Subject: Marker: you are on %s\r\nFrom: mock@%s.test\r\n\r\nbackend=%s\r\n", cfg.Name, cfg.Name, cfg.Name)
}

type session struct {
	s      *Server
	r      *bufio.Reader
	w      *bufio.Writer
	client string
	user   string
	authed bool
}

func serve(s *Server, c net.Conn) {
	ss := &session{s: s}
	var ok bool
	if ss.r, ss.w, ss.client, ok = mockserver.Open(c, s.Cfg.AcceptProxyHeader); !ok {
		return
	}
	ss.reply("+OK %s POP3 mock ready.", s.Cfg.Name)
	for {
		if ss.w.Flush() != nil {
			return
		}
		line, err := ss.r.ReadString('\n')
		if err != nil || len(line) > 64<<10 {
			return
		}
		if !ss.command(strings.TrimRight(line, "\r\n")) {
			ss.w.Flush()
			return
		}
	}
}

func (ss *session) reply(format string, a ...any) {
	fmt.Fprintf(ss.w, format+"\r\n", a...)
}

// command runs one line; false ends the session.
func (ss *session) command(line string) bool {
	name, arg, _ := strings.Cut(line, " ")
	switch strings.ToUpper(name) {
	case "CAPA":
		ss.reply("+OK")
		ss.reply("TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nUSER")
		if ss.s.Cfg.Pipelining {
			ss.reply("PIPELINING")
		}
		if !ss.s.Cfg.NoSASL && !ss.authed {
			ss.reply("SASL PLAIN")
		}
		if ss.s.Cfg.XClient && !ss.authed {
			ss.reply("XCLIENT")
		}
		ss.reply(".")
	case "QUIT":
		ss.reply("+OK bye")
		return false
	case "NOOP":
		ss.reply("+OK")
	}
	if strings.EqualFold(name, "CAPA") || strings.EqualFold(name, "NOOP") {
		return true
	}
	if ss.authed {
		return ss.transaction(strings.ToUpper(name), arg)
	}
	switch strings.ToUpper(name) {
	case "XCLIENT":
		if !ss.s.Cfg.XClient {
			ss.reply("-ERR Unknown command.")
			return true
		}
		ss.client = mockserver.XClient(ss.client, arg)
		ss.reply("+OK")
	case "USER":
		ss.user = arg
		ss.reply("+OK")
	case "PASS":
		ss.login(ss.user, arg)
	case "AUTH":
		mech, ir, hasIR := strings.Cut(arg, " ")
		if !strings.EqualFold(mech, "PLAIN") || ss.s.Cfg.NoSASL {
			ss.reply("-ERR Unsupported mechanism.")
			return true
		}
		if !hasIR {
			ss.reply("+ ")
			ss.w.Flush()
			l, err := ss.r.ReadString('\n')
			if err != nil {
				return false
			}
			ir = strings.TrimRight(l, "\r\n")
		}
		user, pass, ok := mockserver.DecodePlain(ir)
		if !ok {
			ss.reply("-ERR [AUTH] Invalid PLAIN message.")
			return true
		}
		ss.login(user, pass)
	default:
		ss.reply("-ERR Unknown command.")
	}
	return true
}

func (ss *session) login(user, pass string) {
	pw, ok := ss.s.Cfg.Users[user]
	switch {
	case !ok || pw != pass:
		ss.reply("-ERR [AUTH] Authentication failed.")
		return
	case ss.s.Cfg.Locked[user]:
		ss.reply("-ERR [IN-USE] Mailbox is locked by another session.")
		return
	}
	ss.authed, ss.user = true, user
	ss.s.RecordLogin(user, ss.client)
	ss.reply("+OK Logged in.")
}

func (ss *session) transaction(name, arg string) bool {
	msg := ss.s.Cfg.message()
	switch name {
	case "STAT":
		ss.reply("+OK 1 %d", len(msg))
	case "LIST":
		if arg != "" {
			ss.reply("+OK 1 %d", len(msg))
		} else {
			ss.reply("+OK 1 messages\r\n1 %d\r\n.", len(msg))
		}
	case "UIDL":
		ss.reply("+OK\r\n1 marker-%s\r\n.", ss.s.Cfg.Name)
	case "RETR", "TOP":
		if !strings.HasPrefix(arg, "1") {
			ss.reply("-ERR No such message.")
			return true
		}
		ss.reply("+OK %d octets", len(msg))
		fmt.Fprint(ss.w, msg, ".\r\n")
	default:
		ss.reply("-ERR Unknown command.")
	}
	return true
}
