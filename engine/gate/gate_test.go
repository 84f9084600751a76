package gate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// table is a router whose cache knows some accounts and whose store
// (Resolve) knows others.
type table struct {
	cached, stored map[string]router.Result
	storeErr       error
}

func (t table) Cached(id string) (router.Result, error) {
	if r, ok := t.cached[id]; ok {
		return r, nil
	}
	return router.Result{}, router.ErrNotCached
}

func (t table) Resolve(_ context.Context, id string) (router.Result, error) {
	if t.storeErr != nil {
		return router.Result{}, t.storeErr
	}
	if r, ok := t.stored[id]; ok {
		return r, nil
	}
	return router.Result{}, router.ErrNoRoute
}

func (table) Normalize(id string) string { return id }

type breaker struct{ down map[string]bool }

func (b breaker) Allow(dest, _ string) bool { return !b.down[dest] }
func (breaker) Success(string, string)      {}
func (breaker) Failure(string, string)      {}

func newGate(t *testing.T, r table) (*Gate, *[]string) {
	t.Helper()
	dests := map[string]*options.Destination{
		"tls":   {ID: "tls", Protocols: map[string]options.DestProtocol{"imap": {TLS: options.TLSImplicit}}},
		"plain": {ID: "plain", Protocols: map[string]options.DestProtocol{"imap": {TLS: options.TLSPlain}, "smtp": {TLS: options.TLSPlain}}},
		"down":  {ID: "down", Protocols: map[string]options.DestProtocol{"imap": {TLS: options.TLSImplicit}}},
	}
	var refused []string
	g := &Gate{
		Router: r, Observer: options.NoObserver{}, Health: breaker{down: map[string]bool{"down": true}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Timeout: time.Second,
		Destination: func(id string) *options.Destination { return dests[id] },
		Spawn:       func(fn func()) bool { go fn(); return true },
		Refusal:     func(reason string) { refused = append(refused, reason) },
		LogLimited:  func(string, string, ...any) {},
	}
	return g, &refused
}

// The checks after resolution, in order, each with the failure the client
// is told and the outcome the metrics count.
func TestAdmitOrder(t *testing.T) {
	g, _ := newGate(t, table{})
	g.SetMaintenance("plain", true)
	for _, tc := range []struct {
		name    string
		req     session.AdmitRequest
		res     router.Result
		err     error
		ok      bool
		kind    protocols.FailKind
		outcome string
	}{
		{"no route", session.AdmitRequest{Proto: "imap"}, router.Result{}, router.ErrNoRoute, false, protocols.FailRejected, session.OutcomeNoRoute},
		{"bad identifier", session.AdmitRequest{Proto: "imap"}, router.Result{}, router.ErrInvalidIdentifier, false, protocols.FailRejected, session.OutcomeNoRoute},
		{"store down", session.AdmitRequest{Proto: "imap"}, router.Result{}, errors.New("redis gone"), false, protocols.FailTempRouting, session.OutcomeTempFail},
		{"unknown destination", session.AdmitRequest{Proto: "imap"}, router.Result{Destination: "nowhere"}, nil, false, protocols.FailTempRouting, session.OutcomeTempFail},
		{"protocol not served", session.AdmitRequest{Proto: "pop3"}, router.Result{Destination: "tls"}, nil, false, protocols.FailUnavailable, session.OutcomeBackendFailure},
		{"maintenance before plaintext", session.AdmitRequest{Proto: "imap", Creds: true}, router.Result{Destination: "plain"}, nil, false, protocols.FailUnavailable, session.OutcomeBackendFailure},
		{"breaker open", session.AdmitRequest{Proto: "imap"}, router.Result{Destination: "down"}, nil, false, protocols.FailUnavailable, session.OutcomeBackendFailure},
		{"admitted", session.AdmitRequest{Proto: "imap", Creds: true}, router.Result{Destination: "tls"}, nil, true, 0, ""},
	} {
		a := g.Admit(tc.req, tc.res, tc.err)
		if a.OK != tc.ok || (!tc.ok && (a.Kind != tc.kind || a.Outcome != tc.outcome || a.Reason == "")) {
			t.Errorf("%s: %+v", tc.name, a)
		}
		if tc.ok && (a.Dest == nil || a.Dest.ID != "tls" || a.DP.TLS != options.TLSImplicit) {
			t.Errorf("%s: admitted to %+v", tc.name, a)
		}
	}
	if a := g.Admit(session.AdmitRequest{Proto: "imap"}, router.Result{Destination: "plain"}, nil); a.OK || a.Reason != "destination in maintenance" {
		t.Fatalf("maintenance: %+v", a)
	}
	g.SetMaintenance("plain", false)
	if a := g.Admit(session.AdmitRequest{Proto: "imap", Creds: true}, router.Result{Destination: "plain"}, nil); a.OK || a.Reason != "plaintext credentials refused" {
		t.Fatalf("credentials over plaintext: %+v", a)
	}
	if a := g.Admit(session.AdmitRequest{Proto: "smtp"}, router.Result{Destination: "plain"}, nil); !a.OK {
		t.Fatalf("no credentials over plaintext: %+v", a)
	}
}

// A cache hit answers inline; a miss answers from the pool, never inline;
// a full pool refuses at once and counts it.
func TestResolve(t *testing.T) {
	g, refused := newGate(t, table{
		cached: map[string]router.Result{"hot": {Destination: "tls"}},
		stored: map[string]router.Result{"cold": {Destination: "plain"}},
	})
	var got router.Result
	var inline bool
	g.Resolve(func(func()) bool { t.Fatal("a cache hit posted"); return false }, "hot",
		func(res router.Result, err error, in bool) { got, inline = res, in })
	if !inline || got.Destination != "tls" {
		t.Fatalf("hit: %+v inline %v", got, inline)
	}
	posted := make(chan func(), 1)
	g.Resolve(func(fn func()) bool { posted <- fn; return true }, "cold",
		func(res router.Result, err error, in bool) { got, inline = res, in })
	(<-posted)()
	if inline || got.Destination != "plain" {
		t.Fatalf("miss: %+v inline %v", got, inline)
	}
	g.Spawn = func(func()) bool { return false }
	var gotErr error
	g.Resolve(func(func()) bool { return true }, "cold", func(_ router.Result, err error, in bool) { gotErr, inline = err, in })
	if !errors.Is(gotErr, ErrBusy) || !inline || len(*refused) != 1 || (*refused)[0] != "dial_budget" {
		t.Fatalf("full pool: %v inline %v refusals %v", gotErr, inline, *refused)
	}
}

func TestDelay(t *testing.T) {
	g, _ := newGate(t, table{})
	now := time.Now()
	if !g.DelayedUntil("a", now).IsZero() {
		t.Fatal("delayed before Delay")
	}
	g.Delay("a", time.Minute)
	until := g.DelayedUntil("a", now)
	if until.Before(now.Add(59*time.Second)) || until.After(now.Add(2*time.Minute)) {
		t.Fatalf("until %v", until)
	}
	if !g.DelayedUntil("a", until).IsZero() {
		t.Fatal("still delayed at its end")
	}
	g.Delay("b", time.Minute)
	g.Delay("b", 0)
	if !g.DelayedUntil("b", now).IsZero() {
		t.Fatal("a lifted delay holds")
	}
}
