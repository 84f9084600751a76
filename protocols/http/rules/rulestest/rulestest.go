// Package rulestest holds what the tests of rules and relay share: a set
// of routes covering every way to route, and the credentials that name an
// account (Basic, an unsigned JWT, a Stalwart sw1 token). For tests only.
package rulestest

import (
	"encoding/base64"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/http/rules"
)

// MustRoutes compiles specs or fails the test.
func MustRoutes(t testing.TB, specs ...rules.RouteSpec) []rules.Route {
	t.Helper()
	r, err := rules.CompileRoutes(specs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Specs is a route of every kind: pinned (by host, by path), extracted
// from a query, a header (with a regex), a body, the credentials, with
// and without fallbacks.
var Specs = []rules.RouteSpec{
	{Match: "/**", Host: "admin.example", Destination: "ADMIN"},
	{Match: "/pinned/**", Destination: "P"},
	{Match: "/q/**", Extract: &rules.ExtractSpec{From: "query", Param: "account"}},
	{Match: "/h/**", Extract: &rules.ExtractSpec{From: "header", Header: "X-Account", Regex: `^user=(.+)$`}},
	{Match: "/login", Methods: []string{"POST"}, Extract: &rules.ExtractSpec{From: "body", Regex: `"user"\s*:\s*"([^"]+)"`}, Fallback: "default"},
	{Match: "/fb/**", Extract: &rules.ExtractSpec{From: "authorization"}, Fallback: "F"},
	{Match: "/dflt/**", Extract: &rules.ExtractSpec{From: "authorization"}, Fallback: "default"},
	{Match: "/{jmap,dav,ws}/**", Extract: &rules.ExtractSpec{From: "authorization"}},
}

// Basic is the Authorization value of Basic credentials.
func Basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// B64URL is s in unpadded base64url.
func B64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// JWT is an unsigned JWT with the given claims.
func JWT(payload string) string {
	return B64URL(`{"alg":"RS256","typ":"JWT"}`) + "." + B64URL(payload) + "." + B64URL("sig")
}

// SW1 is a Stalwart access token naming the account in its footer.
func SW1(name string) string {
	body := make([]byte, 36)
	for i := range body {
		body[i] = byte(i * 7)
	}
	return "sw1." + base64.RawURLEncoding.EncodeToString(body) + "." + B64URL(name)
}
