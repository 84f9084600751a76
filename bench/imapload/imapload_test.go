package imapload

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/internal/benchtest"
	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/bench/stats"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

func users(n int) map[string]string { return Passwords(Accounts("user", n, "pw")) }

func backend(t *testing.T, cfg mockimap.Config) *mockimap.Server {
	t.Helper()
	if cfg.Users == nil {
		cfg.Users = users(100)
	}
	return benchtest.Listen(t, mockimap.Listen, cfg)
}

func TestLoginCountWithSampler(t *testing.T) {
	s := backend(t, mockimap.Config{Name: "b"})
	for _, auth := range []AuthMode{AuthLogin, AuthPlain} {
		before := s.Logins()
		res, err := RunLogin(context.Background(), LoginOptions{
			Options: Options{Target: s.Addr(), Auth: auth, Accounts: Accounts("user", 100, "pw"), Concurrency: 8,
				Sampler: &stats.Sampler{PID: os.Getpid()}},
			Count: 300,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Ops != 300 || res.Errors != 0 || s.Logins()-before != 300 {
			t.Fatalf("%s: ops %d errors %v backend logins %d", auth, res.Ops, res.ErrorsByKind, s.Logins()-before)
		}
		if res.Latency.Count != 300 || res.Latency.P50Ms <= 0 || res.Latency.P999Ms < res.Latency.P50Ms || res.OpsPerSec <= 0 {
			t.Fatalf("%s: latency %+v rate %f", auth, res.Latency, res.OpsPerSec)
		}
		for _, ph := range []string{"connect", "auth", "noop", "logout"} {
			if res.Phases[ph].Count != 300 {
				t.Fatalf("%s: phase %s: %+v", auth, ph, res.Phases[ph])
			}
		}
		if res.TargetCost == nil || res.TargetCost.CPUSeconds <= 0 || res.TargetCost.CPUMicrosPerOp <= 0 || len(res.TargetSamples) != 2 {
			t.Fatalf("%s: target cost %+v samples %d (%s)", auth, res.TargetCost, len(res.TargetSamples), res.SamplerError)
		}
	}
	// Every server-side session ends: the client waited for the close
	// (the server counts a session gone once its handler has returned,
	// just after: wait for that, bounded).
	for deadline := time.Now().Add(10 * time.Second); s.Sessions() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left open", s.Sessions())
		}
	}
}

func TestLoginDurationAndFailures(t *testing.T) {
	s := backend(t, mockimap.Config{Name: "b"})
	t0 := time.Now()
	res, err := RunLogin(context.Background(), LoginOptions{
		Options:  Options{Target: s.Addr(), Auth: AuthPlain, NoSASLIR: true, Accounts: Accounts("user", 3, "wrong"), Concurrency: 4},
		Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The run's deadline never fires early; how late it ends on a busy
	// machine is not asserted.
	if el := time.Since(t0); el < 300*time.Millisecond {
		t.Fatalf("ran %v", el)
	}
	if res.Ops != 0 || res.Errors == 0 || len(res.ErrorsByKind) != 1 || res.ErrorsByKind[0].Kind != "auth: NO [AUTHENTICATIONFAILED]" {
		t.Fatalf("ops %d errors %v", res.Ops, res.ErrorsByKind)
	}
	if s.FailedLogins() != res.Errors {
		t.Fatalf("backend saw %d failures, bench counted %d", s.FailedLogins(), res.Errors)
	}
	// A port that refuses (held, not listening).
	addr := testnet.RefusingAddr(t)
	res, err = RunLogin(context.Background(), LoginOptions{
		Options: Options{Target: addr, Accounts: Accounts("user", 1, "pw"), Concurrency: 2},
		Count:   10,
	})
	if err != nil || res.Errors != 10 || res.ErrorsByKind[0].Kind != "connect: refused" {
		t.Fatalf("refused: %+v %v", res, err)
	}
}

func tlsBackends(t *testing.T) (starttls, implicit *mockimap.Server, client *tls.Config) {
	st, pool, err := mockimap.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	return backend(t, mockimap.Config{Name: "s", TLS: st}),
		backend(t, mockimap.Config{Name: "i", TLS: st, ImplicitTLS: true}),
		&tls.Config{RootCAs: pool}
}

func TestLoginTLSModes(t *testing.T) {
	stS, imS, ct := tlsBackends(t)
	for _, tc := range []struct {
		mode TLSMode
		srv  *mockimap.Server
	}{{TLSStartTLS, stS}, {TLSImplicit, imS}} {
		res, err := RunLogin(context.Background(), LoginOptions{
			Options: Options{Target: tc.srv.Addr(), TLS: tc.mode, TLSConfig: ct, Accounts: Accounts("user", 10, "pw"), Concurrency: 4},
			Count:   40,
		})
		if err != nil || res.Ops != 40 || res.Errors != 0 || res.Phases["tls"].Count != 40 {
			t.Fatalf("%s: %+v %v", tc.mode, res, err)
		}
	}
	// Certificates are verified unless the caller says otherwise.
	res, _ := RunLogin(context.Background(), LoginOptions{
		Options: Options{Target: stS.Addr(), TLS: TLSStartTLS, Accounts: Accounts("user", 1, "pw")},
		Count:   1,
	})
	if res.Errors != 1 || res.ErrorsByKind[0].Kind != "starttls: tls" {
		t.Fatalf("unverified certificate: %v", res.ErrorsByKind)
	}
	res, _ = RunLogin(context.Background(), LoginOptions{
		Options: Options{Target: stS.Addr(), TLS: TLSStartTLS, TLSConfig: &tls.Config{InsecureSkipVerify: true}, Accounts: Accounts("user", 1, "pw")},
		Count:   1,
	})
	if res.Ops != 1 {
		t.Fatalf("insecure: %v", res.ErrorsByKind)
	}
}

func TestIdleSourcesAndCheck(t *testing.T) {
	s := backend(t, mockimap.Config{Name: "b"})
	const n = 60
	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, err := RunIdle(context.Background(), IdleOptions{
			Options: Options{Target: s.Addr(), Auth: AuthLogin, Accounts: Accounts("user", n, "pw"), Concurrency: 8, Sources: 4,
				Sampler: &stats.Sampler{PID: os.Getpid()}},
			Conns: n, Hold: 400 * time.Millisecond,
		})
		done <- out{r, err}
	}()
	// While held, the backend had every session open at once (its own
	// high-water mark: no sampling that a busy machine could miss).
	o := <-done
	peak := s.PeakSessions()
	if o.err != nil {
		t.Fatal(o.err)
	}
	r := o.res
	if peak != n || r.Established != n || r.Alive != n || r.Errors != 0 || s.Logins() != n {
		t.Fatalf("peak %d established %d alive %d errors %v logins %d", peak, r.Established, r.Alive, r.ErrorsByKind, s.Logins())
	}
	if r.HoldSeconds < 0.4 || r.Latency.Count != n || r.TargetCost == nil || len(r.TargetSamples) != 3 {
		t.Fatalf("result %+v", r)
	}
	ips := map[string]bool{}
	for _, a := range Accounts("user", n, "pw") {
		host, _, _ := net.SplitHostPort(s.LastClientAddr(a.User))
		ips[host] = true
	}
	if len(ips) != 4 || !ips["127.0.0.2"] || !ips["127.0.0.4"] {
		t.Fatalf("source addresses seen by the backend: %v", ips)
	}
	// Everything is closed afterwards (the server counts a session gone
	// just after its handler returns: wait for that, bounded).
	for deadline := time.Now().Add(10 * time.Second); s.Sessions() != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if s.Sessions() != 0 {
		t.Fatalf("%d sessions left", s.Sessions())
	}
}

func TestIdlePreauthAndCancel(t *testing.T) {
	s := backend(t, mockimap.Config{Name: "b"})
	// Cancelled once the hold has begun (its progress line says so), not
	// at a time the opening may not have reached on a busy machine.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	holding := writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte("holding")) {
			cancel()
		}
		return len(p), nil
	})
	r, err := RunIdle(ctx, IdleOptions{
		Options: Options{Target: s.Addr(), Accounts: Accounts("user", 1, "pw"), Concurrency: 4,
			Progress: holding, ProgressEvery: 10 * time.Millisecond},
		Conns: 20, Hold: MaxDuration, Preauth: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Only a hold that ignored the cancellation lasts its full hour (and
	// the test's timeout would say so first).
	if r.HoldSeconds >= MaxDuration.Seconds() {
		t.Fatal("cancel did not cut the hold short")
	}
	if r.Established != 20 || s.Logins() != 0 || r.Alive != -1 {
		t.Fatalf("established %d logins %d alive %d", r.Established, s.Logins(), r.Alive)
	}
	if _, ok := r.Phases["auth"]; ok {
		t.Fatal("auth phase reported for pre-auth sessions")
	}
}

// writerFunc is an io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestOptionsChecked(t *testing.T) {
	bad := []Options{
		{},
		{Target: "nohostport", Accounts: Accounts("u", 1, "p")},
		{Target: "127.0.0.1:1", Accounts: Accounts("u", 1, "p"), TLS: "ssl"},
		{Target: "127.0.0.1:1", Accounts: Accounts("u", 1, "p"), Auth: "cram"},
		{Target: "127.0.0.1:1"},
		{Target: "127.0.0.1:1", Accounts: Accounts("u", 1, "p"), Sources: 300},
	}
	for _, o := range bad {
		if _, err := RunLogin(context.Background(), LoginOptions{Options: o, Count: 1}); err == nil {
			t.Errorf("accepted %+v", o)
		}
	}
	if _, err := RunLogin(context.Background(), LoginOptions{Options: Options{Target: "[::1]:1", Accounts: Accounts("u", 1, "p"), Sources: 4}, Count: 1}); err == nil {
		t.Error("sources with an IPv6 target accepted")
	}
	if _, err := RunIdle(context.Background(), IdleOptions{Options: Options{Target: "127.0.0.1:1", Accounts: Accounts("u", 1, "p")}}); err == nil {
		t.Error("idle with 0 conns accepted")
	}
}

func TestReportOutputs(t *testing.T) {
	s := backend(t, mockimap.Config{Name: "b"})
	var prog bytes.Buffer
	res, err := RunLogin(context.Background(), LoginOptions{
		Options: Options{Target: s.Addr(), Accounts: Accounts("user", 5, "pw"), Concurrency: 2,
			Sampler: &stats.Sampler{PID: os.Getpid()}, Progress: &prog, ProgressEvery: 100 * time.Millisecond},
		Duration: 350 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prog.String(), "ok ") || !strings.Contains(prog.String(), "/s), errors 0") {
		t.Fatalf("progress %q", prog.String())
	}
	var txt bytes.Buffer
	res.WriteText(&txt)
	for _, want := range []string{"scenario", "login", "throughput", "ops/s", "p99.9", "auth (ms)", "target rss", "µs/op", "bench itself"} {
		if !strings.Contains(txt.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, txt.String())
		}
	}
	m, b := benchtest.JSON(t, res.WriteJSON)
	lat := m["latency"].(map[string]any)
	if m["scenario"] != "login" || m["ops"].(float64) != float64(res.Ops) || lat["p99_9_ms"] == nil || m["target_cost"] == nil {
		t.Fatalf("json %s", b)
	}
}

func TestReadAccountsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users")
	os.WriteFile(p, []byte("# comment\n\nalice  wonder land\nbob\tpw\n"), 0o644)
	a, err := ReadAccountsFile(p)
	if err != nil || len(a) != 2 || a[0] != (Account{"alice", "wonder land"}) || a[1] != (Account{"bob", "pw"}) {
		t.Fatalf("%v %v", a, err)
	}
	os.WriteFile(p, []byte("lonely\n"), 0o644)
	if _, err := ReadAccountsFile(p); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("line without password: %v", err)
	}
	os.WriteFile(p, []byte("# nothing\n"), 0o644)
	if _, err := ReadAccountsFile(p); err == nil {
		t.Fatal("empty file accepted")
	}
}
