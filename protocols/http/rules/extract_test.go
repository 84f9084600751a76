package rules_test

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/http/rules"
	"github.com/switchyard-mail/switchyard/protocols/http/rules/rulestest"
)

func TestExtractHelpers(t *testing.T) {
	if got := rules.QueryParam("a=1&b=x%20y+z&b=2&c", "b"); got != "x y z" {
		t.Fatalf("queryParam %q", got)
	}
	if got := rules.QueryParam("%61=1", "a"); got != "1" {
		t.Fatalf("queryParam %q", got)
	}
	if got := rules.QueryParam("a=%zz", "a"); got != "" {
		t.Fatalf("queryParam %q", got)
	}
	for auth, want := range map[string]string{
		rulestest.Basic("u@x", "p"):            "u@x",
		"Basic " + rulestest.B64URL("nocolon"): "",
		"Basic !!!":                            "",
		"Basic":                                "",
		"Bearer " + rulestest.SW1("s@x"):       "s@x",
		"Bearer " + rulestest.JWT(`{"sub":5}`): "",
		"Digest username=\"u\"":                "",
		"Basic   " + base64.StdEncoding.EncodeToString([]byte("u2:p")): "u2",
	} {
		if got := rules.AuthIdentity(auth, "email"); got != want {
			t.Errorf("authIdentity(%q) = %q, want %q", auth, got, want)
		}
	}
	e := &rules.Extract{Regex: regexp.MustCompile(`^[a-z]+@x$`)}
	if e.Refine("ab@x") != "ab@x" || e.Refine("AB@x") != "" || e.Refine("") != "" {
		t.Fatal("refine")
	}
	if rules.ValidIdentifier(strings.Repeat("a", 1025)) != "" || rules.ValidIdentifier("a\x7fb") != "" || rules.ValidIdentifier("\xff") != "" {
		t.Fatal("validIdentifier")
	}
}
