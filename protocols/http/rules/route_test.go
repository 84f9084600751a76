package rules

import "testing"

func TestCompileRoutes(t *testing.T) {
	bad := []RouteSpec{
		{Match: "", Destination: "A"},
		{Match: "/[", Destination: "A"},
		{Match: "/a"},
		{Match: "/a", Destination: "A", Extract: &ExtractSpec{From: "authorization"}},
		{Match: "/a", Extract: &ExtractSpec{From: "cookie"}},
		{Match: "/a", Extract: &ExtractSpec{From: "query"}},
		{Match: "/a", Extract: &ExtractSpec{From: "header", Header: "bad header"}},
		{Match: "/a", Extract: &ExtractSpec{From: "body"}},
		{Match: "/a", Extract: &ExtractSpec{From: "body", Regex: "("}},
	}
	for _, s := range bad {
		if _, err := CompileRoutes([]RouteSpec{s}); err == nil {
			t.Errorf("%+v compiled", s)
		}
	}
	rs, err := CompileRoutes([]RouteSpec{{Match: "/a/**", Host: "Mail.Example:443", Methods: []string{"GET"}, Destination: "A"}})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Host != "Mail.Example" || !rs[0].matches("/a/b", "mail.example", "GET") ||
		rs[0].matches("/a/b", "mail.example", "POST") || rs[0].matches("/a/b", "other", "GET") {
		t.Fatalf("%+v", rs[0])
	}
	// Hand-built routes are compiled by PrepareRoutes (NewRelay calls
	// it), in a copy.
	hand := []Route{{Match: "/x/*", Destination: "X"}}
	own := PrepareRoutes(hand)
	if hand[0].glob != nil || own[0].glob == nil {
		t.Fatal("hand-built route")
	}
}

func TestStripPort(t *testing.T) {
	for in, want := range map[string]string{"a.example": "a.example", "a.example:8080": "a.example",
		"[2001:db8::1]:443": "2001:db8::1", "[2001:db8::1]": "2001:db8::1", "[bad": "[bad", "": ""} {
		if got := stripPort(in); got != want {
			t.Errorf("stripPort(%q) = %q, want %q", in, got, want)
		}
	}
}
