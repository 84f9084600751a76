package mockimap

import (
	"errors"
	"net"
	"strings"
	"time"
)

type state uint8

const (
	notAuthenticated state = iota
	authenticated
	selected
)

type session struct {
	srv     *Server
	raw     net.Conn // the TCP connection
	conn    net.Conn // raw or TLS over it
	cr      commandReader
	tls     bool
	peer    string // TCP peer
	proxied string // source from a PROXY header
	st      state
	user    string
	rdonly  bool
	seen    bool
	id      map[string]string
	bye     bool // close after this command (Config.ByeAfterLogin)
	scratch []byte
}

const selectResponse = "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n" +
	"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n" +
	"* 1 EXISTS\r\n" +
	"* 0 RECENT\r\n" +
	"* OK [UNSEEN 1] First unseen.\r\n" +
	"* OK [UIDVALIDITY 1] UIDs valid\r\n" +
	"* OK [UIDNEXT 2] Predicted next UID\r\n"

func (ss *session) w(s ...string) {
	for _, x := range s {
		ss.cr.bw.WriteString(x)
	}
}

func (ss *session) tagged(tag, status, text string) {
	ss.w(tag, " ", status, " ", text, "\r\n")
}

// capabilities lists what is advertised now.
func (ss *session) capabilities() string {
	if ss.st != notAuthenticated {
		return ss.srv.postJoined
	}
	if !ss.tls && ss.srv.cfg.TLS != nil {
		return ss.srv.preJoined + " STARTTLS"
	}
	if ss.tls {
		return ss.srv.tlsJoined
	}
	return ss.srv.preJoined
}

func (ss *session) run() {
	srv := ss.srv
	ss.w("* OK [CAPABILITY ", ss.capabilities(), "] mockimap ", srv.cfg.Name, " ready\r\n")
	if ss.cr.bw.Flush() != nil {
		return
	}
	for {
		ss.conn.SetReadDeadline(time.Now().Add(srv.cfg.Timeout))
		tag, toks, err := ss.cr.readCommand()
		if err != nil {
			var ce *cmdError
			if errors.As(err, &ce) {
				ss.tagged(ce.tag, "BAD", ce.msg)
				if ss.cr.bw.Flush() != nil {
					return
				}
				continue
			}
			if errors.Is(err, errTooLong) {
				ss.w("* BYE Command too long.\r\n")
				ss.cr.bw.Flush()
			}
			return
		}
		if !ss.dispatch(tag, toks) || ss.bye {
			ss.cr.bw.Flush()
			return
		}
		// Answers to pipelined commands go out together.
		if ss.cr.br.Buffered() == 0 {
			if ss.cr.bw.Flush() != nil {
				return
			}
		}
	}
}

// astring returns the value of an atom or string argument.
func astring(t token) (string, bool) {
	return t.s, t.kind == tAtom || t.kind == tString
}

// dispatch runs one command; false closes the connection.
func (ss *session) dispatch(tag string, toks []token) bool {
	if len(toks) == 0 || toks[0].kind != tAtom {
		ss.tagged(tag, "BAD", "Missing command.")
		return true
	}
	cmd := strings.ToUpper(toks[0].s)
	args := toks[1:]
	srv := ss.srv
	if need, ok := needs[cmd]; ok && !ss.allowed(tag, cmd, need) {
		return true
	}
	switch cmd {
	case "CAPABILITY":
		ss.w("* CAPABILITY ", ss.capabilities(), "\r\n")
		ss.tagged(tag, "OK", "CAPABILITY completed")
	case "NOOP":
		ss.tagged(tag, "OK", "NOOP completed")
	case "LOGOUT":
		ss.w("* BYE mockimap ", srv.cfg.Name, " logging out\r\n")
		ss.tagged(tag, "OK", "LOGOUT completed")
		return false
	case "ID":
		if !srv.capSet["ID"] {
			return ss.unknown(tag)
		}
		if !ss.doID(tag, args) {
			return true
		}
		ss.w("* ID (\"name\" \"mockimap\")\r\n")
		ss.tagged(tag, "OK", "ID completed")
	case "STARTTLS":
		if srv.cfg.TLS == nil || ss.tls {
			ss.tagged(tag, "BAD", "STARTTLS not available.")
			return true
		}
		if !ss.allowed(tag, cmd, notAuthenticated) {
			return true
		}
		return ss.startTLS(tag)
	case "LOGIN":
		if len(args) != 2 {
			ss.tagged(tag, "BAD", "LOGIN needs a user name and a password.")
			return true
		}
		u, ok1 := astring(args[0])
		p, ok2 := astring(args[1])
		if !ok1 || !ok2 {
			ss.tagged(tag, "BAD", "LOGIN needs a user name and a password.")
			return true
		}
		if srv.capSet["LOGINDISABLED"] && !ss.tls {
			ss.tagged(tag, "NO", "[PRIVACYREQUIRED] LOGIN is disabled without TLS.")
			return true
		}
		ss.finishLogin(tag, u, p)
	case "AUTHENTICATE":
		return ss.authenticate(tag, args)
	case "ENABLE":
		if !srv.capSet["ENABLE"] {
			return ss.unknown(tag)
		}
		if !ss.allowed(tag, cmd, authenticated) {
			return true
		}
		ss.w("* ENABLED\r\n")
		ss.tagged(tag, "OK", "ENABLE completed")
	case "SELECT", "EXAMINE":
		if len(args) < 1 {
			ss.tagged(tag, "BAD", cmd+" needs a mailbox.")
			return true
		}
		name, ok := astring(args[0])
		if !ok || !strings.EqualFold(name, "INBOX") {
			ss.st = authenticated
			ss.tagged(tag, "NO", "[NONEXISTENT] Mailbox doesn't exist.")
			return true
		}
		ss.st = selected
		ss.rdonly = cmd == "EXAMINE"
		ss.w(selectResponse)
		if ss.rdonly {
			ss.tagged(tag, "OK", "[READ-ONLY] EXAMINE completed")
		} else {
			ss.tagged(tag, "OK", "[READ-WRITE] SELECT completed")
		}
	case "FETCH":
		return ss.fetch(tag, "FETCH", args, false)
	case "UID":
		if len(args) >= 1 && args[0].kind == tAtom && strings.EqualFold(args[0].s, "FETCH") {
			if !ss.allowed(tag, cmd, selected) {
				return true
			}
			return ss.fetch(tag, "UID FETCH", args[1:], true)
		}
		return ss.unknown(tag)
	case "STATUS":
		ss.status(tag, args)
	case "LIST", "LSUB":
		ss.list(tag, cmd, args)
	case "IDLE":
		if !srv.capSet["IDLE"] {
			return ss.unknown(tag)
		}
		if !ss.allowed(tag, cmd, authenticated) {
			return true
		}
		return ss.idle(tag)
	case "CHECK":
		ss.tagged(tag, "OK", "CHECK completed")
	case "CLOSE", "UNSELECT":
		ss.st = authenticated
		ss.tagged(tag, "OK", cmd+" completed")
	default:
		return ss.unknown(tag)
	}
	return true
}

// needs is the state a command needs when nothing is checked before it;
// STARTTLS, ENABLE, IDLE and UID FETCH check theirs after their own.
var needs = map[string]state{
	"LOGIN": notAuthenticated, "AUTHENTICATE": notAuthenticated,
	"SELECT": authenticated, "EXAMINE": authenticated, "STATUS": authenticated, "LIST": authenticated, "LSUB": authenticated,
	"FETCH": selected, "CHECK": selected, "CLOSE": selected, "UNSELECT": selected,
}

// allowed answers BAD and is false when the session is not in the state
// cmd needs: logged out (notAuthenticated), logged in (authenticated;
// selected counts too) or with a mailbox (selected).
func (ss *session) allowed(tag, cmd string, need state) bool {
	var why string
	switch {
	case need == notAuthenticated && ss.st != notAuthenticated:
		why = "already logged in."
	case need == authenticated && ss.st == notAuthenticated:
		why = "log in first."
	case need == selected && ss.st != selected:
		why = "no mailbox selected."
	default:
		return true
	}
	ss.tagged(tag, "BAD", cmd+" not allowed now: "+why)
	return false
}

func (ss *session) unknown(tag string) bool {
	ss.tagged(tag, "BAD", "Unknown command.")
	return true
}
