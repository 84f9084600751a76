package protoload

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/internal/benchtest"
	"github.com/switchyard-mail/switchyard/bench/mockpop3"
	"github.com/switchyard-mail/switchyard/bench/mocksieve"
	"github.com/switchyard-mail/switchyard/bench/mocksmtp"
	"github.com/switchyard-mail/switchyard/bench/stats"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

func users(n int) map[string]string { return imapload.Passwords(imapload.Accounts("user", n, "pw")) }

// backends starts one mock per protocol with user0..user49/pw.
func backends(t *testing.T) map[Protocol]string {
	t.Helper()
	p := benchtest.Listen(t, mockpop3.Listen, mockpop3.Config{Name: "p", Users: users(50), XClient: true})
	m := benchtest.Listen(t, mocksmtp.Listen, mocksmtp.Config{Name: "m", Users: users(50)})
	s := benchtest.Listen(t, mocksieve.Listen, mocksieve.Config{Name: "s", Users: users(50)})
	return map[Protocol]string{POP3: p.Addr(), Submission: m.Addr(), ManageSieve: s.Addr()}
}

func TestLoginEachProtocol(t *testing.T) {
	addrs := backends(t)
	cases := []struct {
		proto Protocol
		auth  imapload.AuthMode
	}{
		{POP3, AuthPlain}, {POP3, AuthUser}, {Submission, AuthPlain}, {ManageSieve, AuthPlain},
	}
	for _, c := range cases {
		t.Run(string(c.proto)+"-"+string(c.auth), func(t *testing.T) {
			var progress bytes.Buffer
			res, err := RunLogin(context.Background(), Options{
				Protocol: c.proto, Target: addrs[c.proto], Auth: c.auth,
				Accounts: imapload.Accounts("user", 50, "pw"),
				Run:      Run{Concurrency: 4, Count: 200, Sampler: &stats.Sampler{PID: os.Getpid()}, Progress: &progress, ProgressEvery: 10 * time.Millisecond},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops != 200 || res.Errors != 0 {
				t.Fatalf("ops %d errors %v", res.Ops, res.ErrorsByKind)
			}
			for _, ph := range []string{"connect", "auth", "noop", "logout"} {
				if res.Phases[ph].Count != 200 {
					t.Fatalf("phase %s: %+v", ph, res.Phases[ph])
				}
			}
			if res.Latency.Count != 200 || res.OpsPerSec <= 0 || res.TargetCost == nil {
				t.Fatalf("latency %+v rate %f cost %+v", res.Latency, res.OpsPerSec, res.TargetCost)
			}
			var out bytes.Buffer
			if err := res.WriteText(&out); err != nil || !strings.Contains(out.String(), "protocol      "+string(c.proto)) ||
				!strings.Contains(out.String(), "200 ok, 0 failed") {
				t.Fatalf("text %v:\n%s", err, out.String())
			}
			m, b := benchtest.JSON(t, res.WriteJSON)
			if m["protocol"] != string(c.proto) || m["ops"].(float64) != 200 {
				t.Fatalf("json %s", b)
			}
		})
	}
}

func TestRefusalsAreCounted(t *testing.T) {
	addrs := backends(t)
	for proto, want := range map[Protocol]string{
		POP3:        "auth: -ERR [AUTH]",
		Submission:  "auth: 535 5.7.8",
		ManageSieve: "auth: NO",
	} {
		res, err := RunLogin(context.Background(), Options{
			Protocol: proto, Target: addrs[proto],
			Accounts: imapload.Accounts("user", 2, "wrong"),
			Run:      Run{Count: 5},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Ops != 0 || res.Errors != 5 || len(res.ErrorsByKind) != 1 || res.ErrorsByKind[0].Kind != want {
			t.Fatalf("%s: ops %d errors %+v, want 5 × %q", proto, res.Ops, res.ErrorsByKind, want)
		}
	}
}

func TestConnectRefused(t *testing.T) {
	addr := testnet.RefusingAddr(t) // held, not listening: refused
	res, err := RunLogin(context.Background(), Options{Protocol: POP3, Target: addr,
		Accounts: imapload.Accounts("user", 1, "pw"), Run: Run{Count: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 3 || !strings.HasPrefix(res.ErrorsByKind[0].Kind, "connect: ") {
		t.Fatalf("%+v", res.ErrorsByKind)
	}
}

// A run bounded by time, without NOOP.
func TestLingerAndDuration(t *testing.T) {
	addrs := backends(t)
	res, err := RunLogin(context.Background(), Options{Protocol: Submission, Target: addrs[Submission],
		Accounts: imapload.Accounts("user", 5, "pw"), SkipNoop: true, Run: Run{Concurrency: 2, Duration: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Errors != 0 || res.Phases["noop"].Count != 0 {
		t.Fatalf("ops %d errors %+v noop %+v", res.Ops, res.ErrorsByKind, res.Phases["noop"])
	}
}

func TestSieveLiteralsAndCodes(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		defer b.Close()
		b.Write([]byte("\"IMPLEMENTATION\" {4}\r\nmock\r\n\"SASL\" \"PLAIN\"\r\nOK\r\n" +
			"NO (TRYLATER) {5+}\r\nlater\r\n"))
	}()
	s := &sieveSession{newConn(a)}
	if err := s.greet(); err != nil {
		t.Fatal(err)
	}
	err := s.response()
	se, ok := err.(*StatusError)
	if !ok || se.Kind() != "NO (TRYLATER)" || !strings.Contains(se.Text, `"later"`) {
		t.Fatalf("%#v", err)
	}
}

func TestSMTPMultilineAndCodes(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		defer b.Close()
		buf := make([]byte, 256)
		b.Write([]byte("220-first\r\n220 ready\r\n"))
		b.Read(buf) // EHLO
		b.Write([]byte("250-mock\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n"))
		b.Read(buf) // AUTH
		b.Write([]byte("454 4.7.0 Temporary authentication failure\r\n"))
	}()
	s := &smtpSession{c: newConn(a), helo: "x"}
	if err := s.greet(); err != nil {
		t.Fatal(err)
	}
	err := s.auth("plain", "u", "p")
	if se, ok := err.(*StatusError); !ok || se.Kind() != "454 4.7.0" {
		t.Fatalf("%#v", err)
	}
}

func TestBadOptions(t *testing.T) {
	acc := imapload.Accounts("u", 1, "p")
	for _, o := range []Options{
		{Protocol: "imap", Target: "127.0.0.1:1", Accounts: acc},
		{Protocol: POP3, Target: "nohost", Accounts: acc},
		{Protocol: POP3, Target: "127.0.0.1:1", Accounts: acc, TLS: imapload.TLSStartTLS},
		{Protocol: Submission, Target: "127.0.0.1:1", Accounts: acc, Auth: AuthUser},
		{Protocol: POP3, Target: "127.0.0.1:1", Accounts: acc, Auth: "login"},
		{Protocol: POP3, Target: "127.0.0.1:1"},
		{Protocol: POP3, Target: "127.0.0.1:1", Accounts: acc, Run: Run{Sources: 1000}},
		{Protocol: POP3, Target: "example.com:1", Accounts: acc, Run: Run{Sources: 4}},
	} {
		if _, err := RunLogin(context.Background(), o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
