package pop3

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
)

// client plays the engine in front of a Server: it keeps what Feed did not
// consume, acts on events the way the engine does, and records what the
// client would see (out) and what the engine was asked (events).
type client struct {
	t         *testing.T
	s         *Server
	pending   []byte
	out       []byte
	events    []string
	logins    []protocols.Login
	closed    bool
	dropped   bool
	discarded []byte
	// verdict decides each login: nil means the backend accepted.
	verdict func(l *protocols.Login) *failure
}

type failure struct {
	kind  protocols.FailKind
	relay string
}

func newClient(t *testing.T, cfg ServerConfig) *client {
	c := &client{t: t, s: NewServer(cfg)}
	c.out = c.s.Greeting(c.out)
	c.verdict = func(*protocols.Login) *failure { return &failure{kind: protocols.FailRejected} }
	return c
}

// send delivers one client write, whole or one byte per network read.
func (c *client) send(data string, bytewise bool) {
	c.dropped, c.discarded = false, nil
	if !bytewise {
		c.deliver([]byte(data))
	} else {
		for i := 0; i < len(data); i++ {
			if c.dropped {
				c.discarded = append(c.discarded, data[i:]...)
				break
			}
			c.deliver([]byte{data[i]})
		}
	}
	if len(c.discarded) > 0 {
		c.events = append(c.events, fmt.Sprintf("discarded %q", c.discarded))
	}
}

func (c *client) deliver(b []byte) {
	if c.closed || c.dropped {
		return
	}
	c.pending = append(c.pending, b...)
	c.pump()
}

func (c *client) pump() {
	for !c.closed && len(c.pending) > 0 {
		n, out, ev := c.s.Feed(c.pending, c.out)
		if n < 0 || n > len(c.pending) {
			c.t.Fatalf("Feed consumed %d of %d", n, len(c.pending))
		}
		c.out = out
		c.pending = c.pending[n:]
		switch ev {
		case protocols.EventNone:
			return
		case protocols.EventClose:
			c.events = append(c.events, "close")
			c.closed = true
			return
		case protocols.EventStartTLS:
			c.events = append(c.events, "starttls")
			c.discarded = append(c.discarded, c.pending...)
			c.pending, c.dropped = nil, true
			c.out = c.s.TLSStarted(c.out)
			return
		case protocols.EventLogin:
			l := *c.s.Login()
			c.logins = append(c.logins, l)
			c.events = append(c.events, "login "+describe(&l))
			f := c.verdict(&l)
			if f == nil {
				c.events = append(c.events, "bridged")
				c.closed = true
				return
			}
			var closeConn bool
			c.out, closeConn = c.s.LoginFailed(f.kind, []byte(f.relay), c.out)
			if closeConn {
				c.events = append(c.events, "close")
				c.closed = true
			}
		}
	}
}

func describe(l *protocols.Login) string {
	c := l.Creds
	s := fmt.Sprintf("%s user=%q", c.Mechanism, c.Username)
	if c.Password != "" {
		s += fmt.Sprintf(" pass=%q", c.Password)
	}
	if c.Authzid != "" {
		s += fmt.Sprintf(" authzid=%q", c.Authzid)
	}
	if c.Token != "" {
		s += fmt.Sprintf(" token=%q", c.Token)
	}
	return s
}

func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\r\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\r\n")
}

func checkLines(t *testing.T, what string, got []byte, want ...string) {
	t.Helper()
	g := lines(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") || (len(got) > 0 && !strings.HasSuffix(string(got), "\r\n")) {
		t.Errorf("%s:\n got: %q\nwant: %q", what, g, want)
	}
}

func checkEvents(t *testing.T, c *client, want ...string) {
	t.Helper()
	if strings.Join(c.events, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n got: %q\nwant: %q", c.events, want)
	}
}

// backendRun plays the engine behind a Backend.
type backendRun struct {
	t       *testing.T
	b       *Backend
	pending []byte
	sent    []byte
	events  []string
	done    bool
	// plainSent is how much was sent before STLS succeeded (all of it
	// while there is no TLS).
	plainSent int
	tls       bool
}

func (r *backendRun) recv(data string) {
	if r.done {
		return
	}
	r.pending = append(r.pending, data...)
	for len(r.pending) > 0 && !r.done {
		n, out, ev := r.b.Feed(r.pending, nil)
		if n < 0 || n > len(r.pending) {
			r.t.Fatalf("Feed consumed %d of %d", n, len(r.pending))
		}
		r.sent = append(r.sent, out...)
		if !r.tls {
			r.plainSent = len(r.sent)
		}
		r.pending = r.pending[n:]
		switch ev {
		case protocols.BackendNone:
			if n == 0 {
				return
			}
		case protocols.BackendStartTLS:
			r.events = append(r.events, "starttls")
			r.tls = true
			r.sent = append(r.sent, r.b.TLSStarted(nil)...)
		case protocols.BackendAuthOK:
			r.events = append(r.events, fmt.Sprintf("ok %q", r.b.Relay()))
			r.done = true
		case protocols.BackendAuthFailed:
			r.events = append(r.events, fmt.Sprintf("refused %q", r.b.Relay()))
			r.done = true
		case protocols.BackendFailed:
			r.events = append(r.events, "failed: "+r.b.Err().Error())
			r.done = true
		}
	}
}
