package frontend

import (
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

func TestSASLSteps(t *testing.T) {
	f := ChallengeFormat{Prefix: "+ ", Suffix: "\r\n"}
	var s Session
	srv := sasl.Pick([]string{sasl.Login}, []byte("login"))
	out, _, o := s.StartSASL(nil, srv, nil, false, f)
	if o != Challenged || s.State != SASL || s.Auth != srv || string(out) != "+ VXNlcm5hbWU6\r\n" {
		t.Fatalf("start: %q %v %v", out, o, s.State)
	}
	out, _, o = s.NextSASL(nil, []byte("u"), f)
	if o != Challenged || string(out) != "+ UGFzc3dvcmQ6\r\n" {
		t.Fatalf("user: %q %v", out, o)
	}
	out, creds, o := s.NextSASL(nil, []byte("p"), f)
	if o != Decoded || len(out) != 0 || creds.Username != "u" || creds.Password != "p" || s.Auth != nil || s.State != Command {
		t.Fatalf("password: %q %v %+v %v", out, o, creds, s.State)
	}

	srv = sasl.Pick([]string{sasl.Plain}, []byte("PLAIN"))
	out, creds, o = s.StartSASL(nil, srv, []byte("no separators"), true, f)
	if o != Malformed || len(out) != 0 || creds != (sasl.Credentials{}) || s.Auth != nil || s.State != Command {
		t.Fatalf("malformed: %q %v %+v", out, o, creds)
	}
}
