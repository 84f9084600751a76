package verdict

import (
	"errors"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
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
