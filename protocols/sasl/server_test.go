package sasl

import (
	"errors"
	"strings"
	"testing"
)

// exchange runs a whole client exchange: the first element of steps is the
// initial response (nil: none), the rest are answers to challenges. It
// returns the challenges seen and the final error.
func exchange(t *testing.T, mech string, ir []byte, hasIR bool, steps ...string) (Credentials, []string, error) {
	t.Helper()
	s, err := NewServer(mech)
	if err != nil {
		t.Fatalf("NewServer(%q): %v", mech, err)
	}
	var challenges []string
	ch, done, err := s.Start(ir, hasIR)
	for !done && err == nil {
		challenges = append(challenges, string(ch))
		if len(steps) == 0 {
			return s.Credentials(), challenges, errors.New("test ran out of steps")
		}
		ch, done, err = s.Next([]byte(steps[0]))
		steps = steps[1:]
	}
	if err == nil && len(steps) > 0 {
		t.Fatalf("exchange finished with %d unused steps", len(steps))
	}
	return s.Credentials(), challenges, err
}

// decodeCase is one message a decoder must take (want) or refuse as
// malformed (wrong).
type decodeCase struct {
	name  string
	msg   string
	want  Credentials
	wrong bool
}

// runDecodeCases runs each case as a subtest: decode runs the mechanism's
// exchange on one message. A message to refuse must fail with
// ErrMalformed, any other must give the credentials wanted.
func runDecodeCases(t *testing.T, cases []decodeCase, decode func(t *testing.T, msg string) (Credentials, error)) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := decode(t, tt.msg)
			switch {
			case tt.wrong && !errors.Is(err, ErrMalformed):
				t.Fatalf("err = %v, want ErrMalformed", err)
			case !tt.wrong && (err != nil || c != tt.want):
				t.Fatalf("got %+v err %v, want %+v", c, err, tt.want)
			}
		})
	}
}

func TestNewServer(t *testing.T) {
	for _, m := range []string{"plain", "Login", "OAUTHBEARER", "xoauth2"} {
		s, err := NewServer(m)
		if err != nil {
			t.Fatalf("NewServer(%q): %v", m, err)
		}
		if s.Mechanism() != strings.ToUpper(m) {
			t.Errorf("NewServer(%q).Mechanism() = %q", m, s.Mechanism())
		}
	}
	for _, m := range []string{"CRAM-MD5", "SCRAM-SHA-256", "", "PLAIN "} {
		if _, err := NewServer(m); !errors.Is(err, ErrUnsupported) {
			t.Errorf("NewServer(%q) err = %v, want ErrUnsupported", m, err)
		}
	}
}

func TestPlain(t *testing.T) {
	long := strings.Repeat("x", MaxFieldLen+1)
	tests := []decodeCase{
		{"no authzid", "\x00alice\x00secret", Credentials{Mechanism: Plain, Username: "alice", Password: "secret"}, false},
		{"authzid", "admin\x00alice\x00p w", Credentials{Mechanism: Plain, Authzid: "admin", Username: "alice", Password: "p w"}, false},
		{"utf8", "\x00jörg@example.com\x00päss", Credentials{Mechanism: Plain, Username: "jörg@example.com", Password: "päss"}, false},
		{"max length", "\x00" + long[1:] + "\x00" + long[1:], Credentials{Mechanism: Plain, Username: long[1:], Password: long[1:]}, false},
		{"one NUL", "alice\x00secret", Credentials{}, true},
		{"three NULs", "\x00alice\x00sec\x00ret", Credentials{}, true},
		{"empty user", "\x00\x00secret", Credentials{}, true},
		{"empty password", "\x00alice\x00", Credentials{}, true},
		{"bad utf8", "\x00al\xffice\x00secret", Credentials{}, true},
		{"user too long", "\x00" + long + "\x00pw", Credentials{}, true},
		{"empty", "", Credentials{}, true},
	}
	runDecodeCases(t, tests, func(t *testing.T, msg string) (Credentials, error) {
		// With an initial response.
		c, ch, err := exchange(t, Plain, []byte(msg), true)
		if err != nil {
			if c.Username != "" || c.Password != "" {
				t.Fatalf("credentials kept after failure: %+v", c)
			}
			return c, err
		}
		if len(ch) != 0 {
			t.Fatalf("IR: got %+v challenges %q", c, ch)
		}
		// Without: one empty challenge first, then the same credentials.
		c2, ch, err := exchange(t, Plain, nil, false, msg)
		if err != nil || len(ch) != 1 || ch[0] != "" || c2 != c {
			t.Fatalf("no IR: got %+v challenges %q err %v, with IR %+v", c2, ch, err, c)
		}
		return c, nil
	})
}

func TestLogin(t *testing.T) {
	c, ch, err := exchange(t, Login, nil, false, "alice", "secret")
	if err != nil || strings.Join(ch, "|") != "Username:|Password:" {
		t.Fatalf("challenges %q err %v", ch, err)
	}
	if c.Username != "alice" || c.Password != "secret" || c.Mechanism != Login {
		t.Fatalf("creds %+v", c)
	}
	// The initial response is the user name.
	c, ch, err = exchange(t, Login, []byte("bob"), true, "pw")
	if err != nil || strings.Join(ch, "|") != "Password:" || c.Username != "bob" || c.Password != "pw" {
		t.Fatalf("IR: creds %+v challenges %q err %v", c, ch, err)
	}
	// An empty initial response still asks for the user name.
	c, ch, err = exchange(t, Login, []byte{}, true, "carol", "pw")
	if err != nil || len(ch) != 2 || c.Username != "carol" {
		t.Fatalf("empty IR: creds %+v challenges %q err %v", c, ch, err)
	}
	// Latin-1 passwords from old clients pass through untouched.
	c, _, err = exchange(t, Login, nil, false, "dave", "p\xe4ss")
	if err != nil || c.Password != "p\xe4ss" {
		t.Fatalf("latin1: creds %+v err %v", c, err)
	}
	for _, steps := range [][]string{{"", "pw"}, {"alice", ""}, {"al\x00ice", "pw"}, {strings.Repeat("u", MaxFieldLen+1), "pw"}} {
		if _, _, err := exchange(t, Login, nil, false, steps...); !errors.Is(err, ErrMalformed) {
			t.Errorf("steps %q: err = %v, want ErrMalformed", steps, err)
		}
	}
}

func TestOAuthBearer(t *testing.T) {
	tok := "eyJhbGciOi.eyJzdWIi-_~+/=="
	tests := []decodeCase{
		{"full", "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer " + tok + "\x01\x01",
			Credentials{Mechanism: OAuthBearer, Username: "user@example.com", Token: tok, Host: "server.example.com", Port: "143"}, false},
		{"no authzid", "n,,\x01auth=Bearer abc\x01\x01", Credentials{Mechanism: OAuthBearer, Token: "abc"}, false},
		{"escaped authzid", "y,a=a=2Cb=3Dc,\x01auth=bearer  abc\x01\x01", Credentials{Mechanism: OAuthBearer, Username: "a,b=c", Token: "abc"}, false},
		{"extension key ignored", "n,,\x01foo=bar baz\x01auth=Bearer abc\x01\x01", Credentials{Mechanism: OAuthBearer, Token: "abc"}, false},
		{"channel binding", "p=tls-unique,,\x01auth=Bearer abc\x01\x01", Credentials{}, true},
		{"no auth", "n,a=u,\x01host=h\x01\x01", Credentials{}, true},
		{"basic scheme", "n,a=u,\x01auth=Basic abc\x01\x01", Credentials{}, true},
		{"empty token", "n,a=u,\x01auth=Bearer \x01\x01", Credentials{}, true},
		{"bad token char", "n,a=u,\x01auth=Bearer a b\x01\x01", Credentials{}, true},
		{"token too long", "n,,\x01auth=Bearer " + strings.Repeat("a", MaxTokenLen+1) + "\x01\x01", Credentials{}, true},
		{"bad escape", "n,a=a=2Xb,\x01auth=Bearer abc\x01\x01", Credentials{}, true},
		{"truncated escape", "n,a=ab=2,\x01auth=Bearer abc\x01\x01", Credentials{}, true},
		{"missing final kvsep", "n,,\x01auth=Bearer abc\x01", Credentials{}, true},
		{"trailing data", "n,,\x01auth=Bearer abc\x01\x01x", Credentials{}, true},
		{"duplicate auth", "n,,\x01auth=Bearer a\x01auth=Bearer b\x01\x01", Credentials{}, true},
		{"bad port", "n,,\x01port=14x\x01auth=Bearer a\x01\x01", Credentials{}, true},
		{"no gs2", "auth=Bearer abc\x01\x01", Credentials{}, true},
		{"bad key", "n,,\x01au th=x\x01auth=Bearer a\x01\x01", Credentials{}, true},
	}
	runDecodeCases(t, tests, func(t *testing.T, msg string) (Credentials, error) {
		c, _, err := exchange(t, OAuthBearer, []byte(msg), true)
		return c, err
	})
}

func TestXOAuth2(t *testing.T) {
	tests := []decodeCase{
		{"canonical", "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01",
			Credentials{Mechanism: XOAuth2, Username: "someuser@example.com", Token: "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"}, false},
		{"reordered, one final sep", "auth=Bearer t0k\x01user=u\x01", Credentials{Mechanism: XOAuth2, Username: "u", Token: "t0k"}, false},
		{"no user", "auth=Bearer t\x01\x01", Credentials{}, true},
		{"empty user", "user=\x01auth=Bearer t\x01\x01", Credentials{}, true},
		{"no auth", "user=u\x01\x01", Credentials{}, true},
		{"not bearer", "user=u\x01auth=t\x01\x01", Credentials{}, true},
		{"unterminated", "user=u\x01auth=Bearer t", Credentials{}, true},
		{"trailing", "user=u\x01auth=Bearer t\x01\x01junk", Credentials{}, true},
		{"empty", "", Credentials{}, true},
	}
	runDecodeCases(t, tests, func(t *testing.T, msg string) (Credentials, error) {
		c, ch, err := exchange(t, XOAuth2, nil, false, msg)
		if len(ch) != 1 || ch[0] != "" {
			t.Fatalf("challenges %q, want one empty", ch)
		}
		return c, err
	})
}

func TestServerMisuse(t *testing.T) {
	s, _ := NewServer(Plain)
	if _, _, err := s.Next([]byte("\x00a\x00b")); !errors.Is(err, ErrMalformed) {
		t.Errorf("Next before Start: err = %v", err)
	}
	s, _ = NewServer(Plain)
	if _, done, err := s.Start([]byte("\x00a\x00b"), true); !done || err != nil {
		t.Fatalf("Start: done=%v err=%v", done, err)
	}
	if _, _, err := s.Next([]byte("\x00a\x00b")); !errors.Is(err, ErrMalformed) {
		t.Errorf("Next after done: err = %v", err)
	}
	if _, _, err := s.Start(nil, false); !errors.Is(err, ErrMalformed) {
		t.Errorf("second Start: err = %v", err)
	}
	s, _ = NewServer(XOAuth2)
	s.Start(nil, false)
	if _, _, err := s.Next(make([]byte, maxMessageLen+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized message: err = %v", err)
	}
}

func TestCredentialsStringRedacts(t *testing.T) {
	c := Credentials{Mechanism: Plain, Username: "al\"ice", Password: "hunter2", Token: "tok"}
	s := c.String()
	if strings.Contains(s, "hunter2") || strings.Contains(s, "tok") || !strings.Contains(s, "al?ice") {
		t.Errorf("String() = %q", s)
	}
}

func TestOffered(t *testing.T) {
	got := Offered([]string{"plain", "CRAM-MD5", "PLAIN", "xoauth2", "Login"})
	if strings.Join(got, " ") != "PLAIN XOAUTH2 LOGIN" {
		t.Fatalf("Offered: %q", got)
	}
}
