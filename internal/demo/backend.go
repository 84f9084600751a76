package demo

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/switchyard-mail/switchyard/internal/tcpserver"
)

// backend is the demo's own IMAP server: one INBOX with one message whose
// subject names the backend, so a person sees where the proxy sent them.
// It speaks what the proxy's login replay and the documented curl and
// imaplib commands need (greeting, CAPABILITY, ID, LOGIN, AUTHENTICATE
// PLAIN, SELECT/EXAMINE, FETCH/UID FETCH of the message, NOOP, LOGOUT) and
// answers anything else BAD. It is no test double: bench/mockimap is, and
// the shipped binary must not link it.
type backend struct {
	srv   tcpserver.Server
	name  string
	users map[string]string
	msg   []byte
}

const (
	capabilities = "IMAP4rev1 SASL-IR ID AUTH=PLAIN"
	// idleTimeout closes a silent client; a command line longer than the
	// reader's buffer (4 KiB) ends the session.
	idleTimeout = 30 * time.Minute
)

func listenBackend(addr, name string, users map[string]string) (*backend, error) {
	b := &backend{name: name, users: users,
		msg: []byte("From: switchyard demo <demo@" + name + ".invalid>\r\n" +
			"To: <user@example.invalid>\r\n" +
			"Subject: Marker: you are on " + name + "\r\n" +
			"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n" +
			"Message-ID: <marker." + name + "@demo.invalid>\r\n" +
			"MIME-Version: 1.0\r\n" +
			"Content-Type: text/plain; charset=us-ascii\r\n" +
			"\r\n" +
			"backend=" + name + "\r\n")}
	if err := b.srv.Listen(addr, b.serve); err != nil {
		return nil, err
	}
	return b, nil
}

// Addr is the backend's address.
func (b *backend) Addr() string { return b.srv.Addr() }

// Close stops accepting, closes every connection and waits for them.
func (b *backend) Close() { _ = b.srv.Close() }

// session is one client's state.
type session struct {
	b        *backend
	r        *bufio.Reader
	w        *bufio.Writer
	c        net.Conn
	user     string // "" before login
	selected bool
}

func (b *backend) serve(c net.Conn) {
	s := &session{b: b, r: bufio.NewReaderSize(c, 4096), w: bufio.NewWriter(c), c: c}
	s.send("* OK [CAPABILITY " + capabilities + "] " + b.name + " demo backend ready")
	for {
		line, ok := s.readLine()
		if !ok {
			return
		}
		tag, rest, _ := strings.Cut(line, " ")
		cmd, args, _ := strings.Cut(rest, " ")
		if tag == "" || cmd == "" {
			s.send("* BAD malformed command")
			continue
		}
		if !s.command(tag, strings.ToUpper(cmd), args) {
			return
		}
	}
}

// command runs one command; false ends the session.
func (s *session) command(tag, cmd, args string) bool {
	switch cmd {
	case "CAPABILITY":
		s.send("* CAPABILITY " + capabilities)
	case "NOOP":
	case "ID":
		s.send(`* ID ("name" "switchyard-demo")`)
	case "LOGOUT":
		s.send("* BYE logging out")
		s.send(tag + " OK LOGOUT completed")
		return false
	case "LOGIN":
		user, pass, ok := s.loginArgs(args)
		if !ok {
			s.send(tag + " BAD LOGIN takes a user name and a password")
			return true
		}
		s.login(tag, user, pass)
		return true
	case "AUTHENTICATE":
		return s.authenticate(tag, args)
	case "SELECT", "EXAMINE":
		if s.user == "" {
			s.send(tag + " BAD log in first")
			return true
		}
		if !strings.EqualFold(strings.Trim(args, `"`), "INBOX") {
			s.send(tag + " NO no such mailbox")
			return true
		}
		s.selected = true
		s.send("* FLAGS (\\Seen)")
		s.send("* 1 EXISTS")
		s.send("* 0 RECENT")
		s.send("* OK [UIDVALIDITY 1] UIDs valid")
		s.send("* OK [UIDNEXT 2] predicted next UID")
		mode := "READ-WRITE"
		if cmd == "EXAMINE" {
			mode = "READ-ONLY"
		}
		s.send(tag + " OK [" + mode + "] " + cmd + " completed")
		return true
	case "FETCH", "UID":
		if !s.selected {
			s.send(tag + " BAD select INBOX first")
			return true
		}
		s.fetch(tag, cmd, args)
		return true
	default:
		s.send(tag + " BAD unknown command")
		return true
	}
	s.send(tag + " OK " + cmd + " completed")
	return true
}

func (s *session) login(tag, user, pass string) {
	if want, ok := s.b.users[user]; !ok || want != pass {
		s.send(tag + " NO [AUTHENTICATIONFAILED] invalid credentials")
		return
	}
	s.user = user
	s.send(tag + " OK [CAPABILITY " + capabilities + "] logged in as " + user + " on " + s.b.name)
}

// authenticate runs AUTHENTICATE PLAIN, with the response on the line
// (SASL-IR) or after a continuation.
func (s *session) authenticate(tag, args string) bool {
	mech, ir, hasIR := strings.Cut(args, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		s.send(tag + " NO unsupported mechanism")
		return true
	}
	if !hasIR {
		s.send("+ ")
		line, ok := s.readLine()
		if !ok {
			return false
		}
		ir = line
	}
	if ir == "*" {
		s.send(tag + " BAD authentication cancelled")
		return true
	}
	raw, err := base64.StdEncoding.DecodeString(ir)
	parts := bytes.Split(raw, []byte{0})
	if err != nil || len(parts) != 3 {
		s.send(tag + " BAD invalid PLAIN response")
		return true
	}
	s.login(tag, string(parts[1]), string(parts[2]))
	return true
}

// fetch answers FETCH or UID FETCH of message 1 with the whole message:
// the demo's INBOX holds nothing else.
func (s *session) fetch(tag, cmd, args string) {
	done := "FETCH completed"
	if cmd == "UID" {
		done = "UID FETCH completed"
		sub, rest, _ := strings.Cut(args, " ")
		if !strings.EqualFold(sub, "FETCH") {
			s.send(tag + " BAD only UID FETCH is supported")
			return
		}
		args = rest
	}
	set, _, _ := strings.Cut(args, " ")
	if set == "1" || set == "1:*" || set == "*" {
		fmt.Fprintf(s.w, "* 1 FETCH (UID 1 FLAGS (\\Seen) BODY[] {%d}\r\n", len(s.b.msg))
		_, _ = s.w.Write(s.b.msg)
		s.send(")")
	}
	s.send(tag + " OK " + done)
}

// loginArgs reads LOGIN's two arguments: atoms or quoted strings.
func (s *session) loginArgs(args string) (user, pass string, ok bool) {
	var out []string
	for args != "" && len(out) < 3 {
		args = strings.TrimLeft(args, " ")
		if strings.HasPrefix(args, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(args) && args[i] != '"'; i++ {
				if args[i] == '\\' && i+1 < len(args) {
					i++
				}
				b.WriteByte(args[i])
			}
			if i >= len(args) {
				return "", "", false
			}
			out = append(out, b.String())
			args = args[i+1:]
			continue
		}
		atom, rest, _ := strings.Cut(args, " ")
		if atom != "" {
			out = append(out, atom)
		}
		args = rest
	}
	if len(out) != 2 {
		return "", "", false
	}
	return out[0], out[1], true
}

func (s *session) readLine() (string, bool) {
	_ = s.c.SetReadDeadline(time.Now().Add(idleTimeout))
	line, err := s.r.ReadSlice('\n')
	if err != nil {
		return "", false
	}
	return strings.TrimRight(string(line), "\r\n"), true
}

func (s *session) send(line string) {
	_, _ = s.w.WriteString(line)
	_, _ = s.w.WriteString("\r\n")
	_ = s.w.Flush()
}
