package admin

import (
	"fmt"
	"github.com/switchyard-mail/switchyard/admin/apiv1"
	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/httpio"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// escapeAll percent-encodes every byte outside [A-Za-z0-9._~@+-].
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._~@+-", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "identifier=alice@example.com", "identifier=user+tag%40example.com&destination=new",
		"identifier=a&identifier=b", "identifier=%", "identifier=%4", "identifier=%zz", "=x", "&&&",
		"identifier=%00", "identifier=%ff%fe", "seconds=30&identifier=b%C3%A9b", "a=b=c", "protocol",
		"seconds=%2B5", "seconds=99999999999999999999", "identifier=a%20b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := httpio.ParseQuery(raw)
		if err != nil {
			if _, ok := err.(*httpio.ParamError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		names := make([]string, 0, len(q))
		for k, v := range q {
			if k == "" {
				t.Fatalf("empty name accepted in %q", raw)
			}
			if httpio.CheckText(k) != nil || httpio.CheckText(v) != nil {
				t.Fatalf("invalid text accepted: %q=%q from %q", k, v, raw)
			}
			names = append(names, k)
		}
		// Encoding the parsed query again parses back to the same values.
		sort.Strings(names)
		var parts []string
		for _, k := range names {
			parts = append(parts, escapeAll(k)+"="+escapeAll(q[k]))
		}
		again, err := httpio.ParseQuery(strings.Join(parts, "&"))
		if len(raw) <= httpio.MaxQueryLen/3 && (err != nil || !reflect.DeepEqual(again, q)) {
			t.Fatalf("round trip of %q: %v, %v", raw, again, err)
		}
		for _, name := range []string{"identifier", "destination"} {
			if v, ok, err := q.Optional(name, httpio.MaxIdentifierLen); err == nil && ok {
				if v == "" || strings.ContainsAny(v, " \t\r\n") || len(v) > httpio.MaxIdentifierLen {
					t.Fatalf("%s %q passed validation", name, v)
				}
			}
		}
		if n, err := q.Seconds("seconds", httpio.MaxDelaySeconds); err == nil && (n < 0 || n > httpio.MaxDelaySeconds) {
			t.Fatalf("seconds %d passed validation", n)
		}
	})
}

func FuzzParseImport(f *testing.F) {
	for _, s := range []string{
		"", "a@x new\n", "# comment\r\n\r\nA@x\tnew\r\n  b@x   old  \n", "a@x\n", "a@x new extra\n",
		"a@x new\na@x old\n", "\xff old\n", "a\x00b new\n", "#a b\n", "a #b\n", "a\u00a0b new\n", "a b",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pairs, lines, err := httpio.ParseImport(body)
		if err != nil {
			le, ok := err.(*httpio.LineError)
			if !ok || le.Line < 1 || le.Line > strings.Count(string(body), "\n")+1 {
				t.Fatalf("error %v does not name a line of the body", err)
			}
			return
		}
		if len(pairs) != len(lines) {
			t.Fatalf("%d pairs, %d line numbers", len(pairs), len(lines))
		}
		seen := map[string]bool{}
		var out strings.Builder
		for i, p := range pairs {
			if i > 0 && lines[i] <= lines[i-1] {
				t.Fatalf("line numbers not increasing: %v", lines)
			}
			if httpio.CheckToken("identifier", p.Identifier, httpio.MaxIdentifierLen) != "" || httpio.CheckToken("destination", p.Destination, httpio.MaxDestinationLen) != "" {
				t.Fatalf("invalid pair accepted: %q", p)
			}
			if seen[p.Identifier] {
				t.Fatalf("duplicate identifier accepted: %q", p.Identifier)
			}
			seen[p.Identifier] = true
			fmt.Fprintf(&out, "%s %s\n", p.Identifier, p.Destination)
		}
		// The export format of what was parsed parses to the same pairs.
		again, _, err := httpio.ParseImport([]byte(out.String()))
		if err != nil || !reflect.DeepEqual(again, pairs) {
			t.Fatalf("round trip: %v %v, want %v", again, err, pairs)
		}
	})
}

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
