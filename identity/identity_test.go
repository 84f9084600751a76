package identity

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// jwt builds an unsigned-looking JWT with the given payload JSON.
func jwt(payload string) string {
	return b64(`{"alg":"RS256","typ":"JWT"}`) + "." + b64(payload) + "." + b64("signature-bytes")
}

// sw1 builds a token in Stalwart's layout: body = nonce(12) || ciphertext
// with tag(16); the content is irrelevant to the proxy.
func sw1(name string) string {
	body := make([]byte, 12+16+8)
	for i := range body {
		body[i] = byte(i * 7)
	}
	t := "sw1." + base64.RawURLEncoding.EncodeToString(body)
	if name != "" {
		t += "." + b64(name)
	}
	return t
}

func TestFromTokenJWTClaimOrder(t *testing.T) {
	cases := []struct {
		name, payload, claim, want string
		ok                         bool
	}{
		{"email first", `{"sub":"123","email":"alice@example.org","preferred_username":"al"}`, "", "alice@example.org", true},
		{"configured claim wins", `{"email":"alice@example.org","mail":"a2@example.org"}`, "mail", "a2@example.org", true},
		{"configured claim missing falls back", `{"email":"alice@example.org"}`, "mail", "alice@example.org", true},
		{"configured claim not a string falls back", `{"mail":42,"upn":"bob@corp.example"}`, "mail", "bob@corp.example", true},
		{"empty email falls through", `{"email":"","preferred_username":"carol"}`, "", "carol", true},
		{"upn", `{"upn":"dave@corp.example","sub":"x"}`, "", "dave@corp.example", true},
		{"unique_name", `{"unique_name":"CORP\\erin","sub":"x"}`, "", `CORP\erin`, true},
		{"sub last", `{"sub":"248289761001"}`, "", "248289761001", true},
		{"no usable claim", `{"iss":"https://idp","aud":"x"}`, "", "", false},
		{"control char in email falls through", `{"email":"a\r\nb@x","sub":"s1"}`, "", "s1", true},
		{"payload not an object", `["email","x"]`, "", "", false},
		{"payload null", `null`, "", "", false},
		{"payload not json", `email=x`, "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := FromToken(jwt(tc.payload), tc.claim)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("FromToken = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// tokenCase is a token FromToken must read as want (ok), or refuse.
type tokenCase struct {
	name, tok, want string
	ok              bool
}

func runTokenCases(t *testing.T, cases []tokenCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := FromToken(tc.tok, "")
			if ok != tc.ok || got != tc.want {
				t.Fatalf("FromToken(%q) = %q, %v; want %q, %v", tc.tok, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestFromTokenJWTShape(t *testing.T) {
	good := jwt(`{"email":"alice@example.org"}`)
	parts := strings.Split(good, ".")
	padded := base64.URLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
		base64.URLEncoding.EncodeToString([]byte(`{"email":"p@example.org"}`)) + "."
	cases := []tokenCase{
		{"valid", good, "alice@example.org", true},
		{"padding tolerated, empty signature", padded, "p@example.org", true},
		{"two parts", parts[0] + "." + parts[1], "", false},
		{"four parts", good + ".x", "", false},
		{"JWE five parts", parts[0] + "." + parts[1] + ".a.b.c", "", false},
		{"header not json", b64("nope") + "." + parts[1] + "." + parts[2], "", false},
		{"standard alphabet rejected", parts[0] + "." + strings.ReplaceAll(parts[1], "_", "/") + "/+." + parts[2], "", false},
		{"bad padding", parts[0] + "=." + parts[1] + "." + parts[2], "", false},
		{"empty header", "." + parts[1] + "." + parts[2], "", false},
		{"signature not base64url", parts[0] + "." + parts[1] + ".!!", "", false},
		{"opaque token", "ya29.a0AfH6SMBx-opaque", "", false},
		{"empty", "", "", false},
	}
	runTokenCases(t, cases)
}

func TestFromTokenSizeBound(t *testing.T) {
	pad := strings.Repeat("x", MaxTokenLen)
	big := jwt(`{"email":"alice@example.org","pad":"` + pad + `"}`)
	if len(big) <= MaxTokenLen {
		t.Fatal("test token not over the limit")
	}
	if _, ok := FromToken(big, ""); ok {
		t.Fatal("token over MaxTokenLen was parsed")
	}
	// Just under the limit still works.
	fill := strings.Repeat("x", MaxTokenLen/2)
	small := jwt(`{"email":"alice@example.org","pad":"` + fill + `"}`)
	if len(small) > MaxTokenLen {
		t.Fatal("test token over the limit")
	}
	if got, ok := FromToken(small, ""); !ok || got != "alice@example.org" {
		t.Fatalf("FromToken = %q, %v", got, ok)
	}
}

func TestFromTokenStalwart(t *testing.T) {
	shortBody := "sw1." + base64.RawURLEncoding.EncodeToString(make([]byte, 27)) + "." + b64("a@b")
	cases := []tokenCase{
		{"footer names account", sw1("route-me@example.org"), "route-me@example.org", true},
		{"utf-8 name", sw1("名字@example.org"), "名字@example.org", true},
		{"no footer", sw1(""), "", false},
		{"empty footer", sw1("") + ".", "", false},
		{"footer not base64url", sw1("") + ".!!!notbase64!!!", "", false},
		{"body too short for nonce and tag", shortBody, "", false},
		{"body not base64url", "sw1.@@@@." + b64("a@b"), "", false},
		{"footer with CRLF", sw1("a@b\r\nA1 LOGOUT"), "", false},
		{"footer invalid utf-8", sw1("a\xffb"), "", false},
		{"extra dot inside footer", sw1("a@b") + ".x", "", false},
		{"other version is not sw1", strings.Replace(sw1("a@b"), "sw1.", "sw2.", 1), "", false},
	}
	runTokenCases(t, cases)
}

// A token captured from the shape Stalwart's own test documents: the
// footer is the clear name and the body is opaque to us.
func TestFromTokenStalwartKnownLayout(t *testing.T) {
	footer := base64.RawURLEncoding.EncodeToString([]byte("user@example.org"))
	if footer != "dXNlckBleGFtcGxlLm9yZw" {
		t.Fatalf("footer encoding changed: %s", footer)
	}
	tok := "sw1.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj." + footer
	if got, ok := FromToken(tok, ""); !ok || got != "user@example.org" {
		t.Fatalf("FromToken = %q, %v", got, ok)
	}
}

func TestIdentify(t *testing.T) {
	cases := []struct {
		name string
		c    sasl.Credentials
		opt  Options
		want string
		err  error
	}{
		{"username", sasl.Credentials{Username: "alice@example.org", Password: "x"}, Options{}, "alice@example.org", nil},
		{"authzid wins over username", sasl.Credentials{Authzid: "bob@example.org", Username: "admin", Password: "x"}, Options{}, "bob@example.org", nil},
		{"username wins over token", sasl.Credentials{Username: "carol@example.org", Token: sw1("other@example.org")}, Options{}, "carol@example.org", nil},
		{"token when no names", sasl.Credentials{Token: sw1("dave@example.org")}, Options{}, "dave@example.org", nil},
		{"jwt with configured claim", sasl.Credentials{Token: jwt(`{"email":"e@x","mail":"m@x"}`)}, Options{Claim: "mail"}, "m@x", nil},
		{"unreadable token", sasl.Credentials{Token: "opaque"}, Options{}, "", ErrNoIdentifier},
		{"nothing", sasl.Credentials{Password: "x"}, Options{}, "", ErrNoIdentifier},
		{"default master separator", sasl.Credentials{Username: "alice@example.org%master"}, Options{}, "alice@example.org", nil},
		{"dovecot star separator", sasl.Credentials{Username: "alice*master"}, Options{MasterSeparators: "*"}, "alice", nil},
		{"star is not a separator by default", sasl.Credentials{Username: "alice*master"}, Options{}, "alice*master", nil},
		{"several separators, first wins", sasl.Credentials{Username: "a*b%c"}, Options{MasterSeparators: "%*"}, "a", nil},
		{"multibyte separator", sasl.Credentials{Username: "user§master"}, Options{MasterSeparators: "§"}, "user", nil},
		{"separator applies to authzid", sasl.Credentials{Authzid: "x%y", Username: "admin"}, Options{}, "x", nil},
		{"separator applies to token name", sasl.Credentials{Token: sw1("t%m")}, Options{}, "t", nil},
		{"nothing before separator", sasl.Credentials{Username: "%master"}, Options{}, "", ErrNoIdentifier},
		{"control character", sasl.Credentials{Username: "a\r\nb"}, Options{}, "", ErrBadIdentifier},
		{"NUL", sasl.Credentials{Username: "a\x00b"}, Options{}, "", ErrBadIdentifier},
		{"C1 control", sasl.Credentials{Username: "a\u0085b"}, Options{}, "", ErrBadIdentifier},
		{"invalid utf-8", sasl.Credentials{Username: "a\xc3"}, Options{}, "", ErrBadIdentifier},
		{"control after separator is cut away", sasl.Credentials{Username: "ok%\x00"}, Options{}, "ok", nil},
		{"bad authzid does not fall back", sasl.Credentials{Authzid: "a\nb", Username: "admin"}, Options{}, "", ErrBadIdentifier},
		{"too long", sasl.Credentials{Username: strings.Repeat("a", MaxIdentifierLen+1)}, Options{}, "", ErrBadIdentifier},
		{"longest allowed", sasl.Credentials{Username: strings.Repeat("a", MaxIdentifierLen)}, Options{}, strings.Repeat("a", MaxIdentifierLen), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Identify(tc.c, tc.opt)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("Identify = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func checkIdentifier(t *testing.T, id string) {
	t.Helper()
	if id == "" {
		t.Fatal("empty identifier returned as success")
	}
	if !utf8.ValidString(id) {
		t.Fatalf("identifier %q is not valid UTF-8", id)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			t.Fatalf("identifier %q contains control character %U", id, r)
		}
	}
	if len(id) > MaxIdentifierLen {
		t.Fatalf("identifier of %d octets", len(id))
	}
}

func FuzzFromToken(f *testing.F) {
	f.Add(jwt(`{"email":"alice@example.org"}`), "")
	f.Add(jwt(`{"mail":"m@x","sub":"s"}`), "mail")
	f.Add(jwt(`{"email":"a\u0000b","sub":"s"}`), "")
	f.Add(sw1("user@example.org"), "")
	f.Add(sw1(""), "")
	f.Add("sw1.AAAA.BBBB", "")
	f.Add("sw1...", "")
	f.Add("a.b.c", "x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, tok, claim string) {
		id, ok := FromToken(tok, claim)
		if !ok {
			if id != "" {
				t.Fatalf("failure returned %q", id)
			}
			return
		}
		if len(tok) > MaxTokenLen {
			t.Fatal("oversized token parsed")
		}
		checkIdentifier(t, id)
	})
}

func FuzzIdentify(f *testing.F) {
	f.Add("", "alice@example.org", "", "", "")
	f.Add("bob", "admin", "", "", "*")
	f.Add("", "", sw1("t@x"), "", "")
	f.Add("", "", jwt(`{"upn":"u@x"}`), "upn", "%*")
	f.Add("", "a\r\nb%c", "", "", "")
	f.Add("", "%", "", "", "")
	f.Fuzz(func(t *testing.T, authzid, username, tok, claim, seps string) {
		c := sasl.Credentials{Authzid: authzid, Username: username, Token: tok}
		id, err := Identify(c, Options{Claim: claim, MasterSeparators: seps})
		if err != nil {
			if id != "" {
				t.Fatalf("error %v with identifier %q", err, id)
			}
			return
		}
		checkIdentifier(t, id)
		s := seps
		if s == "" {
			s = DefaultMasterSeparators
		}
		if strings.ContainsAny(id, s) {
			t.Fatalf("identifier %q still contains a separator of %q", id, s)
		}
	})
}
