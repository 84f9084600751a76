package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMappingAndAnswers(t *testing.T) {
	dests := map[string]backend{}
	for _, d := range []string{"old=127.0.0.1:1143", "new=127.0.0.1:2143"} {
		name, b, err := parseDest(d)
		if err != nil {
			t.Fatal(err)
		}
		dests[name] = b
	}
	m, err := loadMapping(strings.NewReader("# comment\n\nuser1 new\n  user3\tnew  # trailing\n"), dests)
	if err != nil {
		t.Fatal(err)
	}
	h := &handler{rt: &router{accounts: m, def: dests["old"]}}
	for user, want := range map[string]string{"user1": "2143", "user3": "2143", "user2": "1143"} {
		req := httptest.NewRequest("GET", "/auth", nil)
		req.Header.Set("Auth-Method", "plain")
		req.Header.Set("Auth-User", user)
		req.Header.Set("Auth-Pass", "secret")
		req.Header.Set("Auth-Protocol", "imap")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("Auth-Status") != "OK" ||
			rec.Header().Get("Auth-Server") != "127.0.0.1" || rec.Header().Get("Auth-Port") != want {
			t.Errorf("%s: %d %v, want port %s", user, rec.Code, rec.Header(), want)
		}
		if strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("%s: the password leaked into the answer", user)
		}
	}
	req := httptest.NewRequest("GET", "/auth", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Auth-Status") == "OK" {
		t.Errorf("no Auth-User accepted: %v", rec.Header())
	}
}

func TestBadInput(t *testing.T) {
	for _, d := range []string{"old", "=127.0.0.1:1", "old=localhost:1143", "old=127.0.0.1"} {
		if _, _, err := parseDest(d); err == nil {
			t.Errorf("parseDest(%q) accepted", d)
		}
	}
	dests := map[string]backend{"old": {"127.0.0.1", "1143"}}
	for _, in := range []string{"user1\n", "user1 nowhere\n", "user1 # x\n"} {
		if _, err := loadMapping(strings.NewReader(in), dests); err == nil {
			t.Errorf("loadMapping(%q) accepted", in)
		}
	}
}
