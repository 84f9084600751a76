package mixload

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/internal/benchtest"
	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/bench/mockpop3"
	"github.com/switchyard-mail/switchyard/bench/mocksmtp"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

type mocks struct {
	imap            *mockimap.Server
	pop3            *mockpop3.Server
	sub, lmtp, smtp *mocksmtp.Server
}

func startMocks(t *testing.T, accts []imapload.Account) *mocks {
	t.Helper()
	users := imapload.Passwords(accts)
	return &mocks{
		imap: benchtest.Listen(t, mockimap.Listen, mockimap.Config{Name: "i", Users: users}),
		pop3: benchtest.Listen(t, mockpop3.Listen, mockpop3.Config{Name: "p", Users: users, Pipelining: true}),
		sub:  benchtest.Listen(t, mocksmtp.Listen, mocksmtp.Config{Name: "s", Users: users}),
		lmtp: benchtest.Listen(t, mocksmtp.Listen, mocksmtp.Config{Name: "l", LMTP: true, NoAuth: true, CountOnly: true}),
		smtp: benchtest.Listen(t, mocksmtp.Listen, mocksmtp.Config{Name: "m", NoAuth: true, CountOnly: true}),
	}
}

func TestMixedAgainstMocks(t *testing.T) {
	accts := imapload.Accounts("user", 50, "pw")
	m := startMocks(t, accts)
	var progress bytes.Buffer
	res, err := Run(context.Background(), Options{
		IMAP: m.imap.Addr(), POP3: m.pop3.Addr(), Submission: m.sub.Addr(), LMTP: m.lmtp.Addr(), SMTP: m.smtp.Addr(),
		Accounts: accts, Users: 100, Idle: -1, LoginRate: 60, FetchRate: 40, LMTPRate: 30, SMTPRate: 20,
		LMTPPerConnection: -1, SMTPPerConnection: -1, MessageSize: 2000,
		Duration: 1500 * time.Millisecond, Timeline: 250 * time.Millisecond, Linger: 200 * time.Millisecond,
		Sampler: &stats.Sampler{PID: os.Getpid()}, Progress: &progress, ProgressEvery: 500 * time.Millisecond, Seed: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := res.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if res.Errors != 0 {
		t.Fatalf("%d errors", res.Errors)
	}
	byName := map[string]Component{}
	for _, c := range res.Components {
		byName[c.Name] = c
	}
	want := []string{"idle-imap", "login-imap", "login-pop3", "login-submission", "fetch-imap", "deliver-lmtp", "deliver-smtp"}
	for _, n := range want {
		c, ok := byName[n]
		if !ok {
			t.Fatalf("no component %s", n)
		}
		if c.Ops <= 0 || c.Latency.Count == 0 || len(c.LatencyCDF) == 0 {
			t.Errorf("%s: %d ok, latency %+v", n, c.Ops, c.Latency)
		}
		if n != "idle-imap" && !timelineOK(c.Timeline) {
			t.Errorf("%s: timeline %+v", n, c.Timeline)
		}
		if !strings.Contains(out.String(), n) {
			t.Errorf("table lacks %s", n)
		}
	}
	if idle := byName["idle-imap"]; idle.Sessions != 70 || idle.Established != 70 || idle.Alive != 70 {
		t.Fatalf("idle %+v", idle)
	}
	// The rates asked, split 4:1:1. (How many of the arrivals got done
	// in 1.5 s depends on the machine: every component did some, above.)
	if c := byName["login-imap"]; c.RatePerSec != 40 {
		t.Errorf("login-imap asked %.0f/s", c.RatePerSec)
	}
	if c := byName["login-pop3"]; c.RatePerSec != 10 {
		t.Errorf("login-pop3 asked %.0f/s", c.RatePerSec)
	}
	// Every delivery counted reached its mock; SMTP used a connection per
	// message, LMTP kept its four.
	if l, s := byName["deliver-lmtp"], byName["deliver-smtp"]; int64(m.lmtp.Accepted()) != l.Ops || int64(m.smtp.Accepted()) != s.Ops ||
		l.Connections != 4 || s.Connections != s.Ops || s.PerConnection != 1 || l.MessageSize != 2000 {
		t.Errorf("lmtp %d/%d accepted, %d conns; smtp %d/%d accepted, %d conns", m.lmtp.Accepted(), l.Ops, l.Connections,
			m.smtp.Accepted(), s.Ops, s.Connections)
	}
	if f := byName["fetch-imap"]; f.Bytes <= 0 || f.Clients != 4 {
		t.Errorf("fetch %+v", f)
	}
	if res.TargetCost == nil || res.TargetCost.RSSPerIdleKiB == 0 && res.TargetCost.RSSEstablishedKiB == 0 || !timelineOK(res.Timeline) || res.Timeline[0].Target == nil {
		t.Errorf("cost %+v, %d points", res.TargetCost, len(res.Timeline))
	}
	if !strings.Contains(progress.String(), "mixed:") {
		t.Errorf("progress %q", progress.String())
	}
	back, b := benchtest.JSON(t, res.WriteJSON)
	if back["scenario"] != "mixed" || len(back["components"].([]any)) != len(want) {
		t.Fatalf("json: %s", b)
	}
}

func TestMixedPartsAndBounds(t *testing.T) {
	accts := imapload.Accounts("user", 5, "pw")
	m := startMocks(t, accts)
	// Only LMTP: the other components are left out; a target that refuses
	// shows as errors, not as a failed run.
	res, err := Run(context.Background(), Options{LMTP: m.lmtp.Addr(), SMTP: "127.0.0.1:1", Accounts: accts, Users: 1000,
		LMTPRate: 50, SMTPRate: 20, SMTPPerConnection: -1, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Components) != 2 || res.Components[0].Name != "deliver-lmtp" || res.Components[0].Ops == 0 ||
		res.Components[1].Errors == 0 || res.Components[1].Ops != 0 {
		t.Fatalf("components %+v", res.Components)
	}
	for _, o := range []Options{
		{Accounts: accts, IMAP: "x"},
		{Accounts: accts, LMTP: m.lmtp.Addr(), LMTPRate: 1e9},
		{Accounts: accts, IMAP: m.imap.Addr(), Idle: MaxIdle + 1},
		{Accounts: accts, IMAP: m.imap.Addr(), LoginMix: [3]float64{-1, 1, 1}},
		{IMAP: m.imap.Addr()},
		{Accounts: accts},
	} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	// Cancelled during the measured phase (an hour long): stops early
	// and still reports. Only a run that ignored the cancellation would
	// take the hour; the wait below just turns that into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	type ran struct {
		res *Result
		err error
	}
	done := make(chan ran, 1)
	go func() {
		r, err := Run(ctx, Options{IMAP: m.imap.Addr(), Accounts: accts, Users: 10, Idle: 3, LoginRate: 20, FetchRate: 0, Duration: time.Hour})
		done <- ran{r, err}
	}()
	select {
	case r := <-done:
		if r.err != nil || r.res == nil || r.res.WallSeconds >= time.Hour.Seconds() {
			t.Fatalf("cancelled run: %v (%+v)", r.err, r.res)
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("a cancelled run went on")
	}
}

// timelineOK: a run recorded at least one interval, each with a length,
// in order (how many intervals fit in a short run is up to the
// scheduler: the ticker drops ticks a busy machine does not take).
func timelineOK(points []stats.Point) bool {
	for i, p := range points {
		if p.Seconds <= 0 || i > 0 && p.T <= points[i-1].T {
			return false
		}
	}
	return len(points) > 0
}

func TestSplitRate(t *testing.T) {
	if r := splitRate(6, [3]float64{4, 1, 1}); r != [3]float64{4, 1, 1} {
		t.Fatal(r)
	}
	if r := splitRate(0, [3]float64{4, 1, 1}); r != [3]float64{} {
		t.Fatal(r)
	}
}
