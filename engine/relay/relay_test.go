package relay

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/engine/session/sessiontest"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// lineRelay is a machine of one command a line: "CONNECT" asks for a leg,
// "SEND <x>" sends x to the backend and awaits its reply line, anything
// else is answered "OK <line>". A backend line goes to the client.
type lineRelay struct {
	awaiting bool
	downs    int
}

func (*lineRelay) Greeting(out []byte) []byte   { return append(out, "HELLO\r\n"...) }
func (*lineRelay) TLSStarted(out []byte) []byte { return out }
func (*lineRelay) Recipient() string            { return "" }
func (*lineRelay) Destination() string          { return "d" }
func (m *lineRelay) AwaitingBackend() bool      { return m.awaiting }
func (*lineRelay) Timeout(out []byte) []byte    { return append(out, "TIMEOUT\r\n"...) }
func (*lineRelay) TooBusy(out []byte) []byte    { return out }
func (*lineRelay) ShuttingDown(o *protocols.RelayOut) bool {
	o.Client = append(o.Client, "GOODBYE\r\n"...)
	return true
}
func (*lineRelay) Routed(string, protocols.RouteOutcome, *protocols.RelayOut) protocols.RelayEvent {
	return protocols.RelayNone
}
func (*lineRelay) BackendConnected(protocols.BackendLeg, *protocols.RelayOut) protocols.RelayEvent {
	return protocols.RelayNone
}
func (*lineRelay) BackendTLSStarted(*protocols.RelayOut) protocols.RelayEvent {
	return protocols.RelayNone
}

func (m *lineRelay) FeedClient(in []byte, o *protocols.RelayOut) (int, protocols.RelayEvent) {
	i := bytes.IndexByte(in, '\n')
	if i < 0 || m.awaiting {
		return 0, protocols.RelayNone
	}
	line := strings.TrimRight(string(in[:i]), "\r")
	switch {
	case line == "CONNECT":
		return i + 1, protocols.RelayConnect
	case strings.HasPrefix(line, "SEND "):
		o.Backend = append(o.Backend, line[5:]+"\r\n"...)
		m.awaiting = true
		return i + 1, protocols.RelayNone
	}
	o.Client = append(o.Client, "OK "+line+"\r\n"...)
	return i + 1, protocols.RelayNone
}

func (m *lineRelay) FeedBackend(in []byte, o *protocols.RelayOut) (int, protocols.RelayEvent) {
	i := bytes.IndexByte(in, '\n')
	if i < 0 {
		return 0, protocols.RelayNone
	}
	o.Client = append(o.Client, in[:i+1]...)
	m.awaiting = false
	return i + 1, protocols.RelayNone
}

func (m *lineRelay) BackendDown(o *protocols.RelayOut) protocols.RelayEvent {
	m.downs++
	m.awaiting = false
	o.Client = append(o.Client, "DOWN\r\n"...)
	return protocols.RelayNone
}

type fakeLeg struct {
	dest    *options.Destination
	in      []byte
	sent    bytes.Buffer
	behind  bool
	paused  bool
	dropped bool
}

func (l *fakeLeg) Dest() *options.Destination     { return l.dest }
func (l *fakeLeg) Protocol() options.DestProtocol { return options.DestProtocol{} }
func (l *fakeLeg) Input() []byte                  { return l.in }
func (l *fakeLeg) Consume(n int)                  { l.in = l.in[n:] }
func (l *fakeLeg) Open() bool                     { return !l.dropped }
func (l *fakeLeg) Dead() bool                     { return l.dropped }
func (l *fakeLeg) Behind() bool                   { return l.behind }
func (l *fakeLeg) Drained() bool                  { return !l.behind }
func (l *fakeLeg) Pause()                         { l.paused = true }
func (l *fakeLeg) Unpause()                       { l.paused = false }
func (l *fakeLeg) Write(b []byte)                 { l.sent.Write(b) }
func (l *fakeLeg) StartTLS()                      {}
func (l *fakeLeg) Drop()                          { l.dropped = true }

// fakeConn adds the engine services a relay calls.
type fakeConn struct {
	*sessiontest.Conn
	legs     []*fakeLeg
	health   []netip.AddrPort // clients of the failures reported
	relaying int64
}

func newConn() *fakeConn {
	return &fakeConn{Conn: sessiontest.New(options.Listener{ID: "l", Protocol: "smtp", CommandTimeout: time.Minute, ReplyTimeout: 10 * time.Minute})}
}

func (c *fakeConn) Relaying(d int64) { c.relaying += d }
func (c *fakeConn) Destination(id string) *options.Destination {
	return &options.Destination{ID: id, Protocols: map[string]options.DestProtocol{"smtp": {}}}
}
func (c *fakeConn) HealthSuccess(*options.Destination) {}
func (c *fakeConn) HealthFailure(_ *options.Destination, client netip.AddrPort) {
	c.health = append(c.health, client)
}
func (c *fakeConn) TakeLeg(session.LegOwner, *options.Destination) session.Leg { return nil }
func (c *fakeConn) ParkLeg(protocols.Relay, session.Leg) bool                  { return false }
func (c *fakeConn) Dial(_ session.LegOwner, dest *options.Destination, _ options.DestProtocol) session.Leg {
	l := &fakeLeg{dest: dest}
	c.legs = append(c.legs, l)
	return l
}
func (c *fakeConn) Resolve(string, func(router.Result, error, bool)) { panic("no routing here") }

func start(t *testing.T) (*Session, *fakeConn, *lineRelay) {
	t.Helper()
	c, m := newConn(), &lineRelay{}
	s := New(c, m)
	s.Begin()
	if c.Written.String() != "HELLO\r\n" || len(c.Timeouts) != 1 || c.Timeouts[0] != time.Minute || c.relaying != 1 {
		t.Fatalf("begin: out %q, timeouts %v, relaying %d", c.Written.String(), c.Timeouts, c.relaying)
	}
	c.Written.Reset()
	return s, c, m
}

// A client sending a command a byte at a time is cut at the command
// timeout: bytes of an unfinished command never re-arm it; a whole
// command does.
func TestUnfinishedCommandsDoNotRearmTheTimeout(t *testing.T) {
	s, c, _ := start(t)
	for _, b := range []byte("NOOP") {
		c.In = append(c.In, b)
		s.Input()
	}
	if len(c.Timeouts) != 1 {
		t.Fatalf("re-armed by a partial command: %v", c.Timeouts)
	}
	c.In = append(c.In, "\r\n"...)
	s.Input()
	if c.Written.String() != "OK NOOP\r\n" || len(c.Timeouts) != 2 {
		t.Fatalf("whole command: out %q, timeouts %v", c.Written.String(), c.Timeouts)
	}
	s.Expired(time.Now())
	if !c.Closed || !strings.HasSuffix(c.Written.String(), "TIMEOUT\r\n") {
		t.Fatalf("expired: closed %v out %q", c.Closed, c.Written.String())
	}
	s.Gone()
	if c.relaying != 0 {
		t.Fatalf("still counted: %d", c.relaying)
	}
}

// While the machine awaits the backend the reply timeout applies; a leg
// that fails reaches the machine once, as BackendDown, and the breaker
// hears of it (for every client alike when the dial itself failed).
func TestALegFailsOnce(t *testing.T) {
	s, c, m := start(t)
	c.In = []byte("CONNECT\r\nSEND hello\r\n")
	s.Input()
	if len(c.legs) != 1 {
		t.Fatalf("%d legs dialed", len(c.legs))
	}
	l := c.legs[0]
	s.LegUp(l)
	if l.sent.String() != "hello\r\n" || c.Timeouts[len(c.Timeouts)-1] != 10*time.Minute {
		t.Fatalf("sent %q, timeouts %v", l.sent.String(), c.Timeouts)
	}
	s.LegDown(l, errors.New("reset"))
	s.LegDown(l, errors.New("reset again"))
	if m.downs != 1 || c.Written.String() != "DOWN\r\n" || len(c.health) != 1 || !c.health[0].IsValid() {
		t.Fatalf("downs %d, out %q, health %v", m.downs, c.Written.String(), c.health)
	}
	c.In = []byte("CONNECT\r\n")
	s.Input()
	s.LegDown(c.legs[1], session.DialError{Err: errors.New("refused")})
	if m.downs != 2 || len(c.health) != 2 || c.health[1].IsValid() {
		t.Fatalf("dial failure: downs %d, health %v", m.downs, c.health)
	}
}

// A backend that is behind stops the client's bytes too, and both sides
// are read again once it drained.
func TestBehindLegPausesBothSides(t *testing.T) {
	s, c, _ := start(t)
	c.In = []byte("CONNECT\r\n")
	s.Input()
	l := c.legs[0]
	s.LegUp(l)
	l.behind = true
	c.In = []byte("NOOP\r\n")
	s.Input()
	if c.Written.Len() != 0 || !c.Paused || !l.paused || !c.Resumers[s] {
		t.Fatalf("fed while the leg is behind: out %q, paused %v/%v", c.Written.String(), c.Paused, l.paused)
	}
	s.Resume()
	if c.Written.Len() != 0 {
		t.Fatal("resumed before the leg drained")
	}
	l.behind = false
	s.Resume()
	if c.Written.String() != "OK NOOP\r\n" || c.Paused || l.paused || c.Resumers[s] {
		t.Fatalf("after draining: out %q, paused %v/%v", c.Written.String(), c.Paused, l.paused)
	}
}
