package verdict

import (
	"errors"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

func TestVerdict(t *testing.T) {
	v := Verdict{Name: "x backend"}
	if v.Ended() {
		t.Fatal("a fresh verdict has ended")
	}
	v.Reply = append(v.Reply, "* line\r\n"...)
	if ev := v.End(protocols.BackendAuthOK); ev != protocols.BackendAuthOK || !v.Ended() || string(v.Relay()) != "* line\r\n" {
		t.Fatalf("End: %v %q", ev, v.Relay())
	}
	v = Verdict{Name: "x backend", Reply: []byte("kept?")}
	if ev := v.Failf("bad %s", "thing"); ev != protocols.BackendFailed || v.Result != ev || v.Relay() != nil {
		t.Fatalf("Failf: %v %q", ev, v.Relay())
	}
	if v.Err() == nil || v.Err().Error() != "x backend: bad thing" {
		t.Fatalf("Err: %v", v.Err())
	}
	cause := errors.New("cause")
	v.Fail(cause)
	if !errors.Is(v.Err(), cause) {
		t.Fatal("Fail keeps its error")
	}
}

func TestPending(t *testing.T) {
	var p Pending[int]
	if _, ok := p.Next(); ok {
		t.Fatal("an empty queue has a next command")
	}
	p.Add(1)
	p.Add(2)
	if s, ok := p.Next(); !ok || s != 1 {
		t.Fatalf("Next: %d %v", s, ok)
	}
	p.Done()
	if s, ok := p.Next(); !ok || s != 2 {
		t.Fatalf("Next after Done: %d %v", s, ok)
	}
	p.Done()
	if _, ok := p.Next(); ok {
		t.Fatal("all answered, yet a next command")
	}
}

func TestChallengeUnexpected(t *testing.T) {
	v := Verdict{Name: "x backend"}
	if _, ev := v.Challenge(false, "continuation", []byte("+ x"), nil); ev != protocols.BackendFailed {
		t.Fatalf("Challenge to another command: %v", ev)
	}
	if v.Err() == nil || v.Err().Error() != `x backend: unexpected continuation "+ x"` {
		t.Fatalf("Err: %v", v.Err())
	}
}

func TestSendStartTLS(t *testing.T) {
	v := Verdict{Name: "pop3 backend"}
	if out, ev := v.SendStartTLS(true, "STLS", []byte("x")); string(out) != "xSTLS\r\n" || ev != protocols.BackendNone {
		t.Fatalf("offered: %q %v", out, ev)
	}
	if out, ev := v.SendStartTLS(false, "STLS", nil); len(out) != 0 || ev != protocols.BackendFailed ||
		v.Err().Error() != "pop3 backend: STLS required but not advertised" {
		t.Fatalf("not offered: %q %v %v", out, ev, v.Err())
	}
}

func TestStartTLSReply(t *testing.T) {
	v := Verdict{Name: "smtp backend"}
	if ev := v.StartTLSReply(true, "STARTTLS", []byte("220 go")); ev != protocols.BackendStartTLS || v.Ended() {
		t.Fatalf("accepted: %v", ev)
	}
	if ev := v.StartTLSReply(false, "STARTTLS", []byte("454 no")); ev != protocols.BackendFailed ||
		v.Err().Error() != `smtp backend: STARTTLS refused: "454 no"` {
		t.Fatalf("refused: %v %v", ev, v.Err())
	}
}

func TestAcceptedRefused(t *testing.T) {
	var v Verdict
	if ev := v.Accepted([]byte("+OK in"), "\r\n"); ev != protocols.BackendAuthOK || string(v.Relay()) != "+OK in\r\n" {
		t.Fatalf("Accepted: %v %q", ev, v.Relay())
	}
	v = Verdict{}
	if ev := v.Refused(false, "-ERR hidden\r\n", []byte("-ERR no such user"), "\r\n"); ev != protocols.BackendAuthFailed || string(v.Relay()) != "-ERR no such user\r\n" {
		t.Fatalf("Refused: %v %q", ev, v.Relay())
	}
	v = Verdict{}
	if ev := v.Refused(true, "-ERR hidden\r\n", []byte("-ERR no such user"), "\r\n"); ev != protocols.BackendAuthFailed || string(v.Relay()) != "-ERR hidden\r\n" {
		t.Fatalf("Refused hidden: %v %q", ev, v.Relay())
	}
}

func TestPendingReply(t *testing.T) {
	v := Verdict{Name: "x backend"}
	var p Pending[int]
	if _, _, ev, done := p.Reply(&v, []byte("OK"), false, "challenge", 2, nil); !done || ev != protocols.BackendFailed ||
		v.Err().Error() != `x backend: unsolicited response "OK"` {
		t.Fatalf("unsolicited: %v %v %v", ev, done, v.Err())
	}
	v = Verdict{Name: "x backend"}
	p.Add(1)
	p.Add(2)
	if _, _, ev, done := p.Reply(&v, []byte("+ x"), true, "challenge", 2, nil); !done || ev != protocols.BackendFailed ||
		v.Err().Error() != `x backend: unexpected challenge "+ x"` || len(p) != 2 {
		t.Fatalf("challenge to the wrong command: %v %v %v %v", ev, done, v.Err(), p)
	}
	v = Verdict{Name: "x backend"}
	if s, _, ev, done := p.Reply(&v, []byte("OK"), false, "challenge", 2, nil); done || ev != protocols.BackendNone || s != 1 || len(p) != 1 {
		t.Fatalf("final reply: %v %v %v %v", s, ev, done, p)
	}
}

func TestStartTLSStages(t *testing.T) {
	v := Verdict{Name: "x backend"}
	step := func(rest, out []byte) (int, []byte, protocols.BackendEvent) { return 1, out, protocols.BackendNone }
	if !v.NeedStartTLS(true) || v.NeedStartTLS(false) || v.MarkTLS() {
		t.Fatal("a fresh verdict: STARTTLS needed when required, nothing to mark")
	}
	if ev := v.StartTLSReply(true, "STLS", []byte("+OK")); ev != protocols.BackendStartTLS {
		t.Fatalf("StartTLSReply: %v", ev)
	}
	if n, _, ev := v.Feed([]byte("ab"), nil, step); n != 0 || ev != protocols.BackendNone {
		t.Fatalf("Feed while waiting for TLSStarted: %d %v", n, ev)
	}
	if !v.MarkTLS() || v.MarkTLS() || v.NeedStartTLS(true) {
		t.Fatal("MarkTLS: once, and STARTTLS is done")
	}
	if n, _, _ := v.Feed([]byte("ab"), nil, step); n != 2 {
		t.Fatalf("Feed after TLSStarted consumed %d", n)
	}
	v = Verdict{Name: "x backend"}
	if ev := v.StartTLSReply(false, "STLS", []byte("-ERR no")); ev != protocols.BackendFailed || v.Err().Error() != `x backend: STLS refused: "-ERR no"` {
		t.Fatalf("refused: %v %v", ev, v.Err())
	}
}

func TestLoginCommand(t *testing.T) {
	build := func(c sasl.Credentials) (string, error) {
		if c.Username == "" {
			return "", errors.New("x backend: no user")
		}
		return "LOGIN " + c.Username, nil
	}
	v := Verdict{Name: "x backend"}
	if _, ev := LoginCommand(&v, nil, build); ev != protocols.BackendFailed || v.Err().Error() != "x backend: no credentials to replay" {
		t.Fatalf("no login: %v %v", ev, v.Err())
	}
	v = Verdict{Name: "x backend"}
	if _, ev := LoginCommand(&v, &protocols.Login{}, build); ev != protocols.BackendFailed || v.Err().Error() != "x backend: no user" {
		t.Fatalf("refused: %v %v", ev, v.Err())
	}
	v = Verdict{Name: "x backend"}
	if cmd, ev := LoginCommand(&v, &protocols.Login{Creds: sasl.Credentials{Username: "u"}}, build); ev != protocols.BackendNone || cmd != "LOGIN u" {
		t.Fatalf("built: %q %v", cmd, ev)
	}
}
