package admin

import (
	"net/url"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/admin/apiv1"
	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/httpio"
)

// FuzzImportBodies: the CSV and JSON import parsers accept only valid
// pairs, name a line (or item) when they refuse, and never panic.
func FuzzImportBodies(f *testing.F) {
	for _, s := range []string{
		"identifier,destination\na@x,new\n", "a@x,new\nb@x\n", "\"a@x\",\"old\"\n", "a@x,\"new\n", "a b,new\n", "\n\n",
		`{"mappings":[{"identifier":"a@x","destination":"new"}]}`, `{"mappings":[{"identifier":"","destination":"x"}]}`, `{"x":1}`, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, parse := range []func([]byte) ([]backend.Pair, []int, error){apiv1.ParseCSVImport, apiv1.ParseJSONImport} {
			pairs, lines, err := parse(body)
			if err != nil {
				if le, ok := err.(*httpio.LineError); ok && le.Line < 1 {
					t.Fatalf("error %v names line %d", err, le.Line)
				}
				continue
			}
			if len(pairs) != len(lines) {
				t.Fatalf("%d pairs, %d lines", len(pairs), len(lines))
			}
			for _, p := range pairs {
				if httpio.CheckToken("identifier", p.Identifier, httpio.MaxIdentifierLen) != "" || httpio.CheckToken("destination", p.Destination, httpio.MaxDestinationLen) != "" {
					t.Fatalf("invalid pair accepted: %q", p)
				}
			}
		}
	})
}

// FuzzV1Request: any path, query and body sent to /api/v1 gets a
// response the OpenAPI document describes (a problem for anything
// wrong), and the viewer token never reaches a change.
func FuzzV1Request(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		{"GET", "/api/v1/mappings/alice%40example.com", ""},
		{"PUT", "/api/v1/mappings/x@y", `{"destination":"new"}`},
		{"POST", "/api/v1/accounts/bob@example.com/cutover", `{"destination":"new","max_hold":"1s","aliases":["b"]}`},
		{"GET", "/api/v1/sessions?client=192.0.2.0%2F24&state=held", ""},
		{"POST", "/api/v1/sessions/kick", `{"id":1}`},
		{"GET", "/api/v1/events?after=3&kind=login,flip", ""},
		{"DELETE", "/api/v1/holds/%2F", ""},
		{"GET", "/api/v1//mappings", ""},
		{"POST", "/api/v1/mappings/import?dry_run=1", "a@x new\n"},
	} {
		f.Add(s.method, s.path, s.body, false)
	}
	f.Fuzz(func(t *testing.T, method, path, body string, viewer bool) {
		if !strings.HasPrefix(path, "/api/v1") || len(path) > 2048 || len(body) > 4096 {
			return
		}
		switch method {
		case "GET", "PUT", "POST", "DELETE", "PATCH":
		default:
			return
		}
		u, err := url.ParseRequestURI(path)
		if err != nil || u.Host != "" || strings.ContainsFunc(path, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return // not a request line a client can send
		}
		h := newHarness(t, func(o *Options) { o.ViewerToken = testViewerToken; o.LockoutThreshold = 1 << 20 })
		tok := "good"
		if viewer {
			tok = "viewer"
		}
		before := len(h.b.Calls())
		w := h.do(method, path, reqOpt{token: tok, body: body, ctype: "application/json"}) // do checks the contract
		if w.Code == 0 {
			t.Fatal("no status")
		}
		if viewer && method != "GET" && len(h.b.Calls()) != before {
			t.Fatalf("the viewer's %s %s reached the backend: %v", method, path, h.b.Calls()[before:])
		}
	})
}
