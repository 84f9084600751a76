package rules

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		in, tok string
		ok      bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer   abc", "abc", true},
		{"BEARER\tabc", "abc", true},
		{"Bearer", "", true}, // a bearer scheme with no token is not "no token"
		{"Basic abc", "", false},
		{"Bearerabc", "", false},
		{"", "", false},
	} {
		if tok, ok := BearerToken(tc.in); tok != tc.tok || ok != tc.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tc.in, tok, ok, tc.tok, tc.ok)
		}
	}
}

// TestBearerCheckForm: every spelling of access_token a backend could
// read is found; names that are not access_token are not.
func TestBearerCheckForm(t *testing.T) {
	for _, tc := range []struct {
		form string
		tok  string // "" for none found
		two  bool   // two different tokens
	}{
		{"access_token=abc", "abc", false},
		{"x=1&access_token=abc&y=2", "abc", false},
		{"access%5Ftoken=abc", "abc", false},
		{"access%5ftoken=abc", "abc", false},
		{"ACCESS_TOKEN=abc", "abc", false},
		{"+access_token+=abc", "abc", false},
		{"x=1;access_token=abc", "abc", false}, // ";" as a separator
		{"access_token=abc;x=1", "", true},     // "abc;x=1" (split at "&" only) and "abc"
		{"access_token=a%2Eb", "a.b", false},   // decoded
		{"access_token=a%zz", "a%zz", false},   // undecodable: as received, and it cannot verify
		{"access_token=abc&access_token=abc", "abc", false},
		{"access_token=abc&access_token=abd", "", true},
		{"access_token=", "", false}, // an empty token is found (and fails)
		{"access_tokens=abc&xaccess_token=abc&access_token_x=1", "", false},
		{"access%zztoken=abc", "", false},
		{"", "", false},
	} {
		var b BearerCheck
		b.Form(tc.form)
		switch {
		case tc.two:
			if b.n != 2 {
				t.Errorf("%q: %d tokens (%q), want two different", tc.form, b.n, b.tok)
			}
		case tc.form == "access_token=":
			if b.n != 1 || b.tok != "" {
				t.Errorf("%q: found %d %q, want the empty token", tc.form, b.n, b.tok)
			}
		case tc.tok == "":
			if b.Found() {
				t.Errorf("%q: found %q, want none", tc.form, b.tok)
			}
		case b.n != 1 || b.tok != tc.tok:
			t.Errorf("%q: found %d %q, want %q", tc.form, b.n, b.tok, tc.tok)
		}
	}
}

func TestBearerCheckVerifiesOnce(t *testing.T) {
	calls := 0
	verify := func(tok string) error {
		calls++
		if tok != "good" {
			return errors.New("no")
		}
		return nil
	}
	var b BearerCheck
	if d := b.Check(verify); d != nil || calls != 0 {
		t.Fatalf("no token: %+v after %d calls", d, calls)
	}
	b.Authorization("Bearer good")
	b.Form("access_token=good")
	if d := b.Check(verify); d != nil || calls != 1 {
		t.Fatalf("good: %+v after %d calls", d, calls)
	}
	b.Form(strings.Repeat("access_token=good&", 1000))
	if d := b.Check(verify); d != nil || calls != 1 {
		t.Fatalf("copies of a verified token: %+v after %d calls", d, calls)
	}
	b.Form("access_token=forged")
	if d := b.Check(verify); d == nil || d.Status != 400 || d.Challenge != InvalidRequestChallenge {
		t.Fatalf("a second token: %+v", d)
	}
	var bad BearerCheck
	bad.Authorization("Bearer forged")
	if d := bad.Check(verify); d == nil || d.Status != 401 || d.Challenge != InvalidTokenChallenge {
		t.Fatalf("forged: %+v", d)
	}
}

func TestIsFormContent(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/x-www-form-urlencoded":                 true,
		"Application/X-WWW-Form-Urlencoded; charset=UTF-8":  true,
		" application/x-www-form-urlencoded ;charset=utf-8": true,
		"text/plain, application/x-www-form-urlencoded":     true,
		"application/json":                   false,
		"multipart/form-data; boundary=x":    false,
		"application/x-www-form-urlencodedx": false,
		"":                                   false,
	} {
		if got := IsFormContent(ct); got != want {
			t.Errorf("IsFormContent(%q) = %v", ct, got)
		}
	}
}

// FuzzBearerForm: whatever access_token a Go backend reads from a query
// or form body (net/url), BearerCheck finds it too (or two different
// tokens, which refuses the request), so no token reaches a backend
// unverified; and Check verifies at most once.
func FuzzBearerForm(f *testing.F) {
	for _, s := range []string{
		"access_token=abc", "x=1&access_token=a%2Eb&y", "access%5Ftoken=abc", "a=1;access_token=x",
		"access_token=a&access_token=b", "access_token=%zz&access_token=ok", "+access_token=x", "access_token",
		"=x&&access_token==", "ACCESS_TOKEN=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, form string) {
		var b BearerCheck
		b.Form(form)
		q, _ := url.ParseQuery(form)
		for _, v := range q[AccessTokenParam] {
			if b.n < 2 && (b.n == 0 || b.tok != v) {
				t.Fatalf("%q: net/url reads access_token %q, BearerCheck found %d %q", form, v, b.n, b.tok)
			}
		}
		calls := 0
		b.Check(func(string) error { calls++; return nil })
		b.Check(func(string) error { calls++; return nil })
		if calls > 1 {
			t.Fatalf("%q: verified %d times", form, calls)
		}
	})
}
