package smtp

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
	dropped   bool   // STARTTLS: the rest of the current write is discarded
	discarded []byte // what was
	// verdict decides each login: nil means the backend accepted (the
	// connection is bridged and the machine's job is over).
	verdict func(l *protocols.Login) *failure
	bridged bool
	// toBackend is what the engine would hand to the backend once
	// bridged: the unconsumed bytes and everything sent after.
	toBackend []byte
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

// send delivers one client write, whole (bytewise false) or one byte per
// network read.
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
	if c.bridged {
		c.toBackend = append(c.toBackend, b...)
		return
	}
	if c.closed || c.dropped {
		return
	}
	c.pending = append(c.pending, b...)
	c.pump()
}

func (c *client) pump() {
	for !c.closed && !c.bridged && len(c.pending) > 0 {
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
			c.pending = nil
			c.dropped = true
			c.out = c.s.TLSStarted(c.out)
			return
		case protocols.EventLogin:
			l := *c.s.Login()
			c.logins = append(c.logins, l)
			c.events = append(c.events, "login "+l.Creds.Mechanism+" "+l.Creds.Username)
			f := c.verdict(&l)
			if f == nil {
				c.events = append(c.events, "bridged")
				c.toBackend = append(c.toBackend, c.pending...)
				c.pending = nil
				c.bridged = true
				return
			}
			var closeConn bool
			c.out, closeConn = c.s.LoginFailed(f.kind, []byte(f.relay), c.out)
			if closeConn {
				c.events = append(c.events, "close")
				c.closed = true
				return
			}
		}
	}
}

// lines returns the output as lines without CRLF, and clears it.
func (c *client) lines() []string {
	s := strings.TrimSuffix(string(c.out), "\r\n")
	c.out = c.out[:0]
	if s == "" {
		return nil
	}
	return strings.Split(s, "\r\n")
}

// transcript runs a dialogue whole and byte by byte and checks that both
// give the same output and events.
func transcript(t *testing.T, cfg ServerConfig, input string, verdict func(*protocols.Login) *failure) *client {
	t.Helper()
	var runs [2]*client
	for i, bytewise := range []bool{false, true} {
		c := newClient(t, cfg)
		if verdict != nil {
			c.verdict = verdict
		}
		c.send(input, bytewise)
		runs[i] = c
	}
	a, b := runs[0], runs[1]
	if string(a.out) != string(b.out) || strings.Join(a.events, "|") != strings.Join(b.events, "|") || string(a.toBackend) != string(b.toBackend) {
		t.Fatalf("chunking changes the result:\nwhole: %q\n%q %q\nbytes: %q\n%q %q", a.out, a.events, a.toBackend, b.out, b.events, b.toBackend)
	}
	return a
}
