package login

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/engine/session/sessiontest"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
	"github.com/switchyard-mail/switchyard/router"
)

// lineFront is a front end of one command a line: "LOGIN <user>" logs in,
// "QUIT" closes, anything else is answered "OK <line>".
type lineFront struct{ login *protocols.Login }

func (*lineFront) Greeting(out []byte) []byte { return append(out, "HELLO\r\n"...) }

func (f *lineFront) Feed(in, out []byte) (int, []byte, protocols.Event) {
	i := bytes.IndexByte(in, '\n')
	if i < 0 {
		return 0, out, protocols.EventNone
	}
	line := strings.TrimRight(string(in[:i]), "\r")
	switch {
	case strings.HasPrefix(line, "LOGIN "):
		f.login = &protocols.Login{Creds: sasl.Credentials{Mechanism: "LOGIN", Username: line[6:], Password: "pw"}}
		return i + 1, out, protocols.EventLogin
	case line == "QUIT":
		return i + 1, append(out, "BYE\r\n"...), protocols.EventClose
	}
	return i + 1, append(out, "OK "+line+"\r\n"...), protocols.EventNone
}

func (f *lineFront) Login() *protocols.Login      { return f.login }
func (*lineFront) TLSStarted(out []byte) []byte   { return out }
func (*lineFront) TooBusy(out []byte) []byte      { return append(out, "BUSY\r\n"...) }
func (*lineFront) Timeout(out []byte) []byte      { return append(out, "TIMEOUT\r\n"...) }
func (*lineFront) ShuttingDown(out []byte) []byte { return append(out, "GOODBYE\r\n"...) }
func (*lineFront) LoginFailed(kind protocols.FailKind, relay, out []byte) ([]byte, bool) {
	return append(out, fmt.Sprintf("NO %d\r\n", kind)...), false
}

type router1 struct{}

func (router1) Cached(id string) (router.Result, error) { return router.Result{Destination: "d"}, nil }
func (router1) Resolve(context.Context, string) (router.Result, error) {
	return router.Result{Destination: "d"}, nil
}
func (router1) Normalize(id string) string { return strings.ToLower(id) }

type replay struct{ abandoned bool }

func (r *replay) Abandon()                   { r.abandoned = true }
func (r *replay) Dest() *options.Destination { return &options.Destination{ID: "d"} }

// fakeConn adds the engine services a login calls.
type fakeConn struct {
	*sessiontest.Conn
	delayed   time.Time
	replays   []*protocols.Login
	last      *replay
	failures  []string
	resolving int
}

func newConn() *fakeConn {
	c := &fakeConn{Conn: sessiontest.New(options.Listener{ID: "l", Protocol: "imap", PreauthTimeout: time.Minute})}
	c.Opt = options.Options{Router: router1{}, BackendTimeout: time.Second}
	return c
}

func (c *fakeConn) DelayedUntil(string, time.Time) time.Time {
	return c.delayed
}
func (c *fakeConn) Resolve(account string, done func(router.Result, error, bool)) {
	c.resolving++
	done(router.Result{Destination: "d"}, nil, true)
}
func (c *fakeConn) Admit(req session.AdmitRequest, res router.Result, err error) session.Admission {
	return session.Admission{Account: req.Account, OK: true, Dest: &options.Destination{ID: res.Destination}}
}
func (c *fakeConn) Audit(string, string, string, string, time.Time) {}
func (c *fakeConn) LoginFailed(kind protocols.FailKind, outcome string) {
	c.failures = append(c.failures, outcome)
}
func (c *fakeConn) HealthFailure(*options.Destination, netip.AddrPort) {}
func (c *fakeConn) StartReplay(_ session.ReplayOwner, login *protocols.Login, _ session.Admission) session.Replay {
	c.replays = append(c.replays, login)
	c.last = &replay{}
	return c.last
}

func start(t *testing.T) (*Session, *fakeConn) {
	t.Helper()
	c := newConn()
	s := New(c, &lineFront{})
	s.Begin()
	if got := c.Written.String(); got != "HELLO\r\n" {
		t.Fatalf("greeting %q", got)
	}
	c.Written.Reset()
	return s, c
}

// Commands pipelined behind a login wait for its verdict; a refused login
// resumes the dialogue with them.
func TestPipelinedCommandsWaitForTheVerdict(t *testing.T) {
	s, c := start(t)
	c.In = []byte("a\r\nLOGIN Bob\r\nb\r\n")
	s.Input()
	if got := c.Written.String(); got != "OK a\r\n" {
		t.Fatalf("before the verdict %q", got)
	}
	if len(c.replays) != 1 || c.replays[0].Identifier != "Bob" || s.Account() != "bob" {
		t.Fatalf("replays %+v, account %q", c.replays, s.Account())
	}
	if string(c.In) != "b\r\n" {
		t.Fatalf("a command after the login was fed before its verdict: left %q", c.In)
	}
	s.Input() // more bytes arriving during the login are not fed either
	if string(c.In) != "b\r\n" {
		t.Fatalf("fed during the login: left %q", c.In)
	}
	s.ReplayFailed(protocols.FailRejected, nil, "refused by the backend")
	if got := c.Written.String(); got != fmt.Sprintf("OK a\r\nNO %d\r\nOK b\r\n", protocols.FailRejected) {
		t.Fatalf("after the refusal %q", got)
	}
	if len(c.failures) != 1 || c.failures[0] != session.OutcomeFailure {
		t.Fatalf("failures counted %v", c.failures)
	}
}

// While the client's output is behind nothing is fed (each command could
// add output); the loop's resume feeds it once it drained.
func TestBehindStopsFeeding(t *testing.T) {
	s, c := start(t)
	c.Lagging = true
	c.In = []byte("a\r\n")
	s.Input()
	if c.Written.Len() != 0 || len(c.In) != 3 || !c.Paused || !c.Resumers[s] {
		t.Fatalf("fed while behind: out %q, left %q, paused %v, waiting %v", c.Written.String(), c.In, c.Paused, c.Resumers[s])
	}
	s.Resume()
	if c.Written.Len() != 0 || !c.Resumers[s] {
		t.Fatal("resumed before the output drained")
	}
	c.Lagging = false
	s.Resume()
	if c.Written.String() != "OK a\r\n" || c.Paused || c.Resumers[s] {
		t.Fatalf("after draining: out %q, paused %v, waiting %v", c.Written.String(), c.Paused, c.Resumers[s])
	}
}

// A login of a delayed account waits without routing; when the delay is
// lifted it goes on at the next deadline.
func TestHeldLoginRoutesWhenTheDelayEnds(t *testing.T) {
	s, c := start(t)
	now := time.Now()
	c.delayed = now.Add(time.Hour)
	c.In = []byte("LOGIN bob\r\n")
	s.Input()
	if c.resolving != 0 || len(c.replays) != 0 {
		t.Fatal("a held login was routed")
	}
	if state, account, _ := s.Describe(); state != "held" || account != "bob" {
		t.Fatalf("described as %s %s", state, account)
	}
	if c.Deadline.IsZero() || c.Deadline.After(c.delayed) {
		t.Fatalf("deadline %v, delay ends %v", c.Deadline, c.delayed)
	}
	c.delayed = time.Time{}
	s.Expired(c.Deadline)
	if c.resolving != 1 || len(c.replays) != 1 {
		t.Fatalf("resolved %d, replays %d", c.resolving, len(c.replays))
	}
}

// The pre-auth deadline gets the protocol's words, a count and a close; a
// shutdown during a login abandons the replay and says goodbye.
func TestTimeoutAndShutdown(t *testing.T) {
	s, c := start(t)
	s.Expired(time.Now())
	if c.Written.String() != "TIMEOUT\r\n" || !c.Closed || len(c.Refusals) != 1 || c.Refusals[0] != "preauth_timeout" {
		t.Fatalf("timeout: out %q closed %v refusals %v", c.Written.String(), c.Closed, c.Refusals)
	}
	s, c = start(t)
	c.In = []byte("LOGIN bob\r\n")
	s.Input()
	s.Stop(false)
	if !c.last.abandoned || !c.Closed || c.Written.String() != fmt.Sprintf("NO %d\r\nGOODBYE\r\n", protocols.FailUnavailable) {
		t.Fatalf("shutdown: abandoned %v closed %v out %q", c.last.abandoned, c.Closed, c.Written.String())
	}
}
