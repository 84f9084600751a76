// Package prototest holds the test drivers shared by the protocol packages'
// unit tests and fuzz targets: Client plays the engine in front of a
// protocols.FrontEnd and BackendRun plays it behind a protocols.BackEnd.
// Neither touches a socket; both record what the engine would see.
package prototest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
)

// Failure is the backend's verdict on a login that did not succeed.
type Failure struct {
	Kind  protocols.FailKind
	Relay string
}

// Verdict is the backend's answer to a login: nil means accepted.
type Verdict = func(*protocols.Login) *Failure

// Accept is the Verdict of a backend that takes every login.
func Accept(*protocols.Login) *Failure { return nil }

// InTurn answers the logins with fs in turn, starting over after the last
// (a nil Failure accepts), so that one test walks the failure paths in
// order. The turn is the Verdict's own: clients that share it (Dialogue's
// two runs) go on from where the last one stopped.
func InTurn(fs ...*Failure) Verdict {
	n := 0
	return func(*protocols.Login) *Failure {
		f := fs[n%len(fs)]
		n++
		return f
	}
}

// Client plays the engine in front of a FrontEnd: it keeps what Feed did
// not consume, acts on events the way the engine does, and records what the
// client would see (Out) and what the engine was asked (Events).
type Client[S protocols.FrontEnd] struct {
	T         testing.TB
	S         S
	Pending   []byte
	Out       []byte
	Events    []string
	Logins    []protocols.Login
	Closed    bool
	Dropped   bool   // STARTTLS: the rest of the current write is discarded
	Discarded []byte // what was
	// Verdict decides each login: nil means the backend accepted (the
	// connection is bridged and the machine's job is over).
	Verdict Verdict
	// Describe renders a login for the "login ..." event.
	Describe func(l *protocols.Login) string

	// Bridge keeps an accepted connection open: the unconsumed bytes and
	// everything sent afterwards go to ToBackend instead of the machine.
	// Without it an accepted login closes the client.
	Bridge  bool
	Bridged bool
	// ToBackend is what the engine would hand to the backend once bridged.
	ToBackend []byte
}

// NewClient returns a Client whose output starts with s's greeting and whose
// verdict refuses every login.
func NewClient[S protocols.FrontEnd](t testing.TB, s S, describe func(*protocols.Login) string) *Client[S] {
	c := &Client[S]{T: t, S: s, Describe: describe}
	c.Out = c.S.Greeting(c.Out)
	c.Verdict = func(*protocols.Login) *Failure { return &Failure{Kind: protocols.FailRejected} }
	return c
}

// Clients is a protocol tests' newClient: each call puts a Client in
// front of a fresh newServer(cfg), with logins rendered by describe.
func Clients[C any, S protocols.FrontEnd](newServer func(C) S, describe func(*protocols.Login) string) func(*testing.T, C) *Client[S] {
	return func(t *testing.T, cfg C) *Client[S] { return NewClient(t, newServer(cfg), describe) }
}

// Send delivers one client write, whole (bytewise false) or one byte per
// network read.
func (c *Client[S]) Send(data string, bytewise bool) {
	c.Dropped, c.Discarded = false, nil
	if !bytewise {
		c.Deliver([]byte(data))
	} else {
		for i := 0; i < len(data); i++ {
			if c.Dropped {
				c.Discarded = append(c.Discarded, data[i:]...)
				break
			}
			c.Deliver([]byte{data[i]})
		}
	}
	if len(c.Discarded) > 0 {
		c.Events = append(c.Events, fmt.Sprintf("discarded %q", c.Discarded))
	}
}

// Deliver hands one network read to the engine.
func (c *Client[S]) Deliver(b []byte) {
	if c.Closed || c.Dropped {
		return
	}
	if c.Bridged {
		c.ToBackend = append(c.ToBackend, b...)
		return
	}
	c.Pending = append(c.Pending, b...)
	c.Pump()
}

// Pump feeds the pending bytes until the machine wants more or an event
// stops the engine.
func (c *Client[S]) Pump() {
	for !c.Closed && !c.Bridged && len(c.Pending) > 0 {
		n, out, ev := c.S.Feed(c.Pending, c.Out)
		if n < 0 || n > len(c.Pending) {
			c.T.Fatalf("Feed consumed %d of %d", n, len(c.Pending))
		}
		c.Out = out
		c.Pending = c.Pending[n:]
		switch ev {
		case protocols.EventNone:
			return
		case protocols.EventClose:
			c.Events = append(c.Events, "close")
			c.Closed = true
			return
		case protocols.EventStartTLS:
			c.Events = append(c.Events, "starttls")
			c.Discarded = append(c.Discarded, c.Pending...)
			c.Pending, c.Dropped = nil, true
			c.Out = c.S.TLSStarted(c.Out)
			return
		case protocols.EventLogin:
			l := *c.S.Login()
			c.Logins = append(c.Logins, l)
			c.Events = append(c.Events, "login "+c.Describe(&l))
			f := c.Verdict(&l)
			if f == nil {
				c.Events = append(c.Events, "bridged")
				if c.Bridge {
					c.ToBackend = append(c.ToBackend, c.Pending...)
					c.Pending = nil
					c.Bridged = true
				} else {
					c.Closed = true
				}
				return
			}
			var closeConn bool
			c.Out, closeConn = c.S.LoginFailed(f.Kind, []byte(f.Relay), c.Out)
			if closeConn {
				c.Events = append(c.Events, "close")
				c.Closed = true
				return
			}
		}
	}
}

// TakeLines returns the output as lines without CRLF, and clears it.
func (c *Client[S]) TakeLines() []string {
	l := Lines(c.Out)
	c.Out = c.Out[:0]
	return l
}

// Describe renders a login's credentials: mechanism, user and whichever
// secrets are set.
func Describe(l *protocols.Login) string {
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

// Lines splits output into lines for readable failures.
func Lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\r\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\r\n")
}

// CheckLines reports an error unless got is exactly the want lines, each
// ended by CRLF.
func CheckLines(t testing.TB, what string, got []byte, want ...string) {
	t.Helper()
	g := Lines(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") || (len(got) > 0 && !strings.HasSuffix(string(got), "\r\n")) {
		t.Errorf("%s:\n got: %q\nwant: %q", what, g, want)
	}
}

// CheckEvents reports an error unless got is exactly want.
func CheckEvents(t testing.TB, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n got: %q\nwant: %q", got, want)
	}
}

// Transcript sends in (whole, or bytewise one byte per read) with every
// login accepted, then checks the client's lines and the events.
func (c *Client[S]) Transcript(in string, bytewise bool, out, events []string) {
	c.T.Helper()
	c.Verdict = Accept
	c.Send(in, bytewise)
	CheckLines(c.T, "output", c.Out, out...)
	CheckEvents(c.T, c.Events, events...)
}

// ServerCase is one client transcript: In is sent in one write, Out the
// lines the client reads back, Events what the engine is asked to do.
type ServerCase[C any] struct {
	Name   string
	Cfg    C
	In     string
	Out    []string
	Events []string
}

// RunServerCase runs tc with the write delivered whole and one byte at a
// time, on a client newClient makes from tc.Cfg; every login is accepted.
// (Test packages declare their own type from ServerCase, so that their
// tables may leave the field names out.)
func RunServerCase[C any, S protocols.FrontEnd](t *testing.T, newClient func(*testing.T, C) *Client[S], tc ServerCase[C]) {
	BothWays(t, tc.Name, func(t *testing.T, bytewise bool) {
		newClient(t, tc.Cfg).Transcript(tc.In, bytewise, tc.Out, tc.Events)
	})
}

// Dialogue sends writes to a client newClient makes, whole and then one
// byte per read, with verdict deciding the logins (nil: the client's own,
// which refuses). It fails t unless both runs give the same output,
// events and bridged bytes, and returns the whole run.
func Dialogue[S protocols.FrontEnd](t testing.TB, newClient func() *Client[S], verdict Verdict, writes ...string) *Client[S] {
	t.Helper()
	var runs [2]*Client[S]
	for i, bytewise := range []bool{false, true} {
		c := newClient()
		if verdict != nil {
			c.Verdict = verdict
		}
		for _, w := range writes {
			c.Send(w, bytewise)
		}
		runs[i] = c
	}
	a, b := runs[0], runs[1]
	if string(a.Out) != string(b.Out) || strings.Join(a.Events, "|") != strings.Join(b.Events, "|") || string(a.ToBackend) != string(b.ToBackend) {
		t.Fatalf("chunking changes the result:\nwhole: %q\n%q %q\nbytes: %q\n%q %q", Lines(a.Out), a.Events, a.ToBackend, Lines(b.Out), b.Events, b.ToBackend)
	}
	return a
}
