package frontend

import (
	"testing"

	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

var testReplies = Replies{Rejected: "no\r\n", Unavailable: "later\r\n", TooMany: "bye\r\n"}

func TestLoginFailed(t *testing.T) {
	s := Session{MaxFailures: 2, Replies: &testReplies, State: Login}
	out, closed := s.LoginFailed(protocols.FailUnavailable, nil, nil)
	if string(out) != "later\r\n" || closed || s.State != Command || s.Failures != 0 {
		t.Fatalf("unavailable: %q %v %+v", out, closed, s)
	}
	out, closed = s.LoginFailed(protocols.FailRejected, []byte("-ERR relayed"), nil)
	if string(out) != "-ERR relayed\r\n" || closed || s.Failures != 1 {
		t.Fatalf("relayed: %q %v %+v", out, closed, s)
	}
	out, closed = s.LoginFailed(protocols.FailRejected, nil, nil)
	if string(out) != "no\r\nbye\r\n" || !closed || s.State != Closed {
		t.Fatalf("last refusal: %q %v %+v", out, closed, s)
	}
	if out, closed = s.LoginFailed(protocols.FailRejected, nil, nil); len(out) != 0 || !closed {
		t.Fatalf("after close: %q %v", out, closed)
	}
}

// TestPendingLoginDropped: the login handed to the engine is gone once
// the engine answers, so a connection waiting for its next command holds
// no credentials (nor their 168 bytes).
func TestPendingLoginDropped(t *testing.T) {
	s := Session{MaxFailures: 3, Replies: &testReplies, State: Login}
	s.Pending = &protocols.Login{Creds: sasl.Credentials{Password: "secret"}}
	if got := s.Login(); got.Creds.Password != "secret" {
		t.Fatalf("Login() = %+v", got)
	}
	s.LoginFailed(protocols.FailRejected, nil, nil)
	if s.Pending != nil {
		t.Errorf("after the refusal the session still holds %+v", s.Pending)
	}
	if got := (&Session{}).Login(); got == nil || got.Creds.Password != "" {
		t.Errorf("Login() without a login: %+v, want an empty one", got)
	}
}

func TestFeedStopsAtEvents(t *testing.T) {
	s := Session{}
	steps := 0
	step := func(rest, out []byte) (int, []byte, protocols.Event) {
		steps++
		if rest[0] == 'L' {
			s.State = Login
			return 1, out, protocols.EventLogin
		}
		return 1, append(out, rest[0]), protocols.EventNone
	}
	n, out, ev := s.Feed([]byte("abLcd"), nil, step)
	if n != 3 || string(out) != "ab" || ev != protocols.EventLogin {
		t.Fatalf("Feed = %d %q %v", n, out, ev)
	}
	if n, _, ev = s.Feed([]byte("cd"), nil, step); n != 0 || ev != protocols.EventNone || steps != 3 {
		t.Fatalf("Feed while the engine holds a login = %d %v (%d steps)", n, ev, steps)
	}
	s.State = Closed
	if n, _, ev = s.Feed([]byte("cd"), nil, step); n != 2 || ev != protocols.EventClose {
		t.Fatalf("Feed when closed = %d %v", n, ev)
	}
}

func TestClose(t *testing.T) {
	s := Session{State: SASL}
	if out := s.Close([]byte("a"), "bye\r\n"); string(out) != "abye\r\n" || s.State != Closed {
		t.Fatalf("Close = %q, state %v", out, s.State)
	}
}

func TestDefaults(t *testing.T) {
	var sasl []string
	attempts, line, authLine, banner := 0, 0, 10, ""
	Defaults(&sasl, &attempts)
	Default(&line, 100)
	Default(&banner, "ready")
	AuthLine(&authLine, line)
	if len(sasl) != 4 || attempts != limits.MaxAuthAttempts || line != 100 || banner != "ready" || authLine != 100 {
		t.Fatalf("%q %d %d %q %d", sasl, attempts, line, banner, authLine)
	}
	set := []string{}
	DefaultList(&set, Mechanisms)
	if set == nil || len(set) != 0 {
		t.Fatal("an empty, not nil, list was replaced")
	}
}
