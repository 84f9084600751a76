package sasl

import (
	"errors"
	"testing"
)

// TestInitialResponseRoundTrip checks that what the client presented is
// replayed identically: decode(encode(c)) == c.
func TestInitialResponseRoundTrip(t *testing.T) {
	for _, c := range []Credentials{
		{Mechanism: Plain, Username: "alice", Password: "secret"},
		{Mechanism: Plain, Authzid: "admin", Username: "jörg", Password: "p w"},
		{Mechanism: OAuthBearer, Username: "a,b=c@example.com", Token: "abc.def-_~+/==", Host: "imap.example.com", Port: "993"},
		{Mechanism: OAuthBearer, Token: "abc"},
		{Mechanism: XOAuth2, Username: "u@example.com", Token: "ya29.abc"},
	} {
		ir, err := InitialResponse(c)
		if err != nil {
			t.Fatalf("InitialResponse(%+v): %v", c, err)
		}
		got, _, err := exchange(t, c.Mechanism, ir, true)
		if err != nil || got != c {
			t.Errorf("round trip of %+v: got %+v err %v (wire %q)", c, got, err, ir)
		}
	}
}

func TestInitialResponseWire(t *testing.T) {
	for _, tt := range []struct {
		c    Credentials
		want string
	}{
		{Credentials{Mechanism: Plain, Username: "u", Password: "p"}, "\x00u\x00p"},
		{Credentials{Mechanism: OAuthBearer, Username: "u=x", Token: "t", Host: "h", Port: "1"}, "n,a=u=3Dx,\x01host=h\x01port=1\x01auth=Bearer t\x01\x01"},
		{Credentials{Mechanism: XOAuth2, Username: "u", Token: "t"}, "user=u\x01auth=Bearer t\x01\x01"},
	} {
		got, err := InitialResponse(tt.c)
		if err != nil || string(got) != tt.want {
			t.Errorf("InitialResponse(%+v) = %q, %v; want %q", tt.c, got, err, tt.want)
		}
	}
}

func TestInitialResponseRefuses(t *testing.T) {
	for _, c := range []Credentials{
		{Mechanism: Login, Username: "u", Password: "p"},
		{Mechanism: "CRAM-MD5"},
	} {
		if _, err := InitialResponse(c); !errors.Is(err, ErrUnsupported) {
			t.Errorf("InitialResponse(%s): err = %v, want ErrUnsupported", c.Mechanism, err)
		}
	}
	for _, c := range []Credentials{
		{Mechanism: Plain, Username: "", Password: "p"},
		{Mechanism: Plain, Username: "u\x00v", Password: "p"},
		{Mechanism: OAuthBearer, Token: "bad token"},
		{Mechanism: OAuthBearer, Token: "t", Port: "x"},
		{Mechanism: OAuthBearer, Token: "t", Host: "a\x01b"},
		{Mechanism: XOAuth2, Username: "u\x01", Token: "t"},
		{Mechanism: XOAuth2, Username: "u", Token: ""},
	} {
		if _, err := InitialResponse(c); !errors.Is(err, ErrMalformed) {
			t.Errorf("InitialResponse(%+v): err = %v, want ErrMalformed", c, err)
		}
	}
}
