package sasl

import (
	"errors"
	"testing"
)

func TestForBackend(t *testing.T) {
	only := func(mechs ...string) func(string) bool {
		return func(m string) bool {
			for _, o := range mechs {
				if o == m {
					return true
				}
			}
			return false
		}
	}
	user := Credentials{Mechanism: "login", Username: "u", Password: "p"}
	bearer := Credentials{Mechanism: "oauthbearer", Username: "u", Token: "t"}
	for _, tc := range []struct {
		name     string
		c        Credentials
		offers   func(string) bool
		mech, ir string
		plainErr bool
		err      string
	}{
		{"login as plain", user, only(Plain), Plain, "\x00u\x00p", false, ""},
		{"plain not offered", user, only(Login), "", "", false, ""},
		{"not plain-encodable", Credentials{Mechanism: Plain, Password: "p"}, only(Plain), "", "", true, ""},
		{"bearer", bearer, only(OAuthBearer), OAuthBearer, "n,a=u,\x01auth=Bearer t\x01\x01", false, ""},
		{"bearer not offered", bearer, only(Plain), "", "", false, "x backend: AUTH OAUTHBEARER no"},
		{"bad bearer", Credentials{Mechanism: XOAuth2, Token: "t"}, only(XOAuth2), XOAuth2, "", false, "sasl: malformed message: empty user name"},
		{"other mechanism", Credentials{Mechanism: "CRAM-MD5"}, only(Plain), "", "", false, `x backend: cannot replay mechanism "CRAM-MD5"`},
	} {
		ch, err := ForBackend(tc.c, tc.offers, "x backend", "x backend: AUTH %s no")
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || ch.Mech != tc.mech || string(ch.IR) != tc.ir || (ch.PlainErr != nil) != tc.plainErr {
			t.Errorf("%s: %+v %v", tc.name, ch, err)
		}
		if tc.plainErr && !errors.Is(ch.PlainErr, ErrMalformed) {
			t.Errorf("%s: PlainErr %v", tc.name, ch.PlainErr)
		}
	}
}

func TestAppendIR(t *testing.T) {
	if got := string(AppendIR([]byte("AUTH X "), nil)); got != "AUTH X =" {
		t.Fatalf("empty: %q", got)
	}
	if got := string(AppendIR(nil, []byte("hi"))); got != "aGk=" {
		t.Fatalf("hi: %q", got)
	}
}
