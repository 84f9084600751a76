package rules_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/http/rules"
	"github.com/switchyard-mail/switchyard/protocols/http/rules/rulestest"
)

func TestDecide(t *testing.T) {
	routes := rulestest.MustRoutes(t, rulestest.Specs...)
	bearer := "Bearer " + rulestest.JWT(`{"sub":"1","email":"alice@a.example","acct":"al@a.example"}`)
	tests := []struct {
		name, method, target, host string
		fields                     map[string]string
		body                       []byte
		claim                      string
		want                       rules.Decision // Route not compared
		match                      string         // Match of the route, "" for none
	}{
		{name: "basic", target: "/jmap/session", fields: map[string]string{"Authorization": rulestest.Basic("alice@a.example", "pw")},
			want: rules.Decision{Identifier: "alice@a.example"}, match: "/{jmap,dav,ws}/**"},
		{name: "bearer jwt", target: "/dav/x", fields: map[string]string{"Authorization": bearer},
			want: rules.Decision{Identifier: "alice@a.example"}, match: "/{jmap,dav,ws}/**"},
		{name: "bearer jwt, claim", target: "/dav/x", fields: map[string]string{"Authorization": bearer}, claim: "acct",
			want: rules.Decision{Identifier: "al@a.example"}, match: "/{jmap,dav,ws}/**"},
		{name: "stalwart sw1", target: "/ws", fields: map[string]string{"Authorization": "bearer " + rulestest.SW1("bob@b.example")},
			want: rules.Decision{Identifier: "bob@b.example"}, match: "/{jmap,dav,ws}/**"},
		{name: "no credentials", target: "/jmap/api",
			want: rules.Decision{Status: 401, Reason: "credentials required", Challenge: rules.BasicChallenge}, match: "/{jmap,dav,ws}/**"},
		{name: "other scheme", target: "/jmap/api", fields: map[string]string{"Authorization": "Digest x"},
			want: rules.Decision{Status: 401, Reason: "credentials required", Challenge: rules.BasicChallenge}, match: "/{jmap,dav,ws}/**"},
		{name: "pinned", target: "/pinned/a?b=c", want: rules.Decision{Destination: "P"}, match: "/pinned/**"},
		{name: "pinned by host, port ignored", target: "/jmap/api", host: "ADMIN.example:8443",
			want: rules.Decision{Destination: "ADMIN"}, match: "/**"},
		{name: "normalized path", target: "/jmap/%2E%2E/pinned/x", want: rules.Decision{Destination: "P"}, match: "/pinned/**"},
		{name: "no route", target: "/nowhere", want: rules.Decision{Status: 404, Reason: "no route for this path"}},
		{name: "method restricts", method: "GET", target: "/login", want: rules.Decision{Status: 404, Reason: "no route for this path"}},
		{name: "query", target: "/q/x?a=1&account=carol%40c.example", want: rules.Decision{Identifier: "carol@c.example"}, match: "/q/**"},
		{name: "query missing", target: "/q/x?a=1", want: rules.Decision{Status: 400, Reason: "no account named in the request"}, match: "/q/**"},
		{name: "header with regex", target: "/h/x", fields: map[string]string{"X-Account": "user=dan@d.example"},
			want: rules.Decision{Identifier: "dan@d.example"}, match: "/h/**"},
		{name: "header regex misses", target: "/h/x", fields: map[string]string{"X-Account": "dan@d.example"},
			want: rules.Decision{Status: 400, Reason: "no account named in the request"}, match: "/h/**"},
		{name: "body", method: "POST", target: "/login", body: []byte(`{"user": "erin@e.example"}`),
			want: rules.Decision{Identifier: "erin@e.example"}, match: "/login"},
		{name: "body without account: default", method: "POST", target: "/login", body: []byte(`{}`),
			want: rules.Decision{Destination: "D"}, match: "/login"},
		{name: "body not read ahead: default", method: "POST", target: "/login",
			want: rules.Decision{Destination: "D"}, match: "/login"},
		{name: "fallback destination", target: "/fb/x", want: rules.Decision{Destination: "F"}, match: "/fb/**"},
		{name: "fallback default", target: "/dflt/x", want: rules.Decision{Destination: "D"}, match: "/dflt/**"},
		{name: "two Authorization fields", target: "/jmap/x", fields: map[string]string{"Authorization": rulestest.Basic("a", "b") + "\n" + rulestest.Basic("c", "d")},
			want: rules.Decision{Status: 400, Reason: "more than one Authorization field"}},
		{name: "connect", method: "CONNECT", target: "/jmap/x", want: rules.Decision{Status: 501, Reason: "CONNECT is not supported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			r := httptest.NewRequest(method, tt.target, nil)
			r.Host = "mail.example"
			if tt.host != "" {
				r.Host = tt.host
			}
			for k, v := range tt.fields {
				for _, x := range strings.Split(v, "\n") {
					r.Header.Add(k, x)
				}
			}
			d := rules.Decide(routes, "D", tt.claim, r, tt.body)
			got := d
			got.Route = nil
			if got != tt.want {
				t.Fatalf("Decide = %+v, want %+v", got, tt.want)
			}
			m := ""
			if d.Route != nil {
				m = d.Route.Match
			}
			if tt.want.Status != 400 && tt.want.Status != 501 || tt.match != "" {
				if m != tt.match {
					t.Fatalf("route %q, want %q", m, tt.match)
				}
			}
			if wb := rules.Match(routes, r).WantsBody(); wb != (tt.match == "/login" && method == "POST") {
				t.Fatalf("WantsBody = %v", wb)
			}
		})
	}
}

func TestDecideFallbacks(t *testing.T) {
	routes := rulestest.MustRoutes(t, rulestest.Specs...)
	r := httptest.NewRequest("GET", "/dflt/x", nil)
	if d := rules.Decide(routes, "", "", r, nil); d.Status != 502 || d.Reason != "no default destination" {
		t.Fatalf("default without destination: %+v", d)
	}
	r.Header.Set("Authorization", rulestest.Basic("zed@z.example", "pw"))
	d := rules.Decide(routes, "D", "", r, nil)
	if d.Identifier != "zed@z.example" {
		t.Fatalf("%+v", d)
	}
	// The router knows no destination: the fallback.
	if u := d.Route.Unrouted("D"); u.Destination != "D" {
		t.Fatalf("Unrouted: %+v", u)
	}
	r = httptest.NewRequest("GET", "/jmap/x", nil)
	r.Header.Set("Authorization", rulestest.Basic("zed@z.example", "pw"))
	d = rules.Decide(routes, "D", "", r, nil)
	if u := d.Route.Unrouted("D"); u.Status != 502 || u.Destination != "" {
		t.Fatalf("Unrouted without fallback: %+v", u)
	}
}
