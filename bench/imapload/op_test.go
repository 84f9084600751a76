package imapload

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

func TestOpLoginOpenAndErrorKind(t *testing.T) {
	s := backend(t, mockimap.Config{Name: "b"})
	op, err := NewOp(Options{Target: s.Addr(), Accounts: Accounts("user", 10, "pw")})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := op.Login(context.Background(), Account{"user1", "pw"}, false, 200*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	c, err := op.Open(context.Background(), Account{"user2", "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if op.Latency().Count() != 5 || op.Phases()["auth"].Count != 6 || op.Phases()["noop"].Count != 5 {
		t.Fatalf("latency %d, phases %+v", op.Latency().Count(), op.Phases())
	}
	err = op.Login(context.Background(), Account{"user1", "wrong"}, false, 0)
	if k := ErrorKind("login", err); k != "auth: NO [AUTHENTICATIONFAILED]" {
		t.Fatalf("kind %q (%v)", k, err)
	}
	if k := ErrorKind("fetch", errors.New("x")); k != "fetch: other" {
		t.Fatalf("kind %q", k)
	}
	if _, err := NewOp(Options{Target: "nowhere", Accounts: Accounts("u", 1, "p")}); err == nil {
		t.Fatal("bad target accepted")
	}
}

func TestLoginTimeline(t *testing.T) {
	s := backend(t, mockimap.Config{Name: "b"})
	res, err := RunLogin(context.Background(), LoginOptions{
		Options: Options{Target: s.Addr(), Accounts: Accounts("user", 100, "pw"), Concurrency: 4,
			Sampler: &stats.Sampler{PID: os.Getpid()}, Timeline: 100 * time.Millisecond},
		Duration: 550 * time.Millisecond, Linger: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range res.Timeline {
		n += p.Ops
		if p.Target == nil {
			t.Fatalf("point without target: %+v", p)
		}
	}
	// How many intervals and ops fall inside the recorded span depends on
	// the machine (the Timeline's arithmetic is checked on synctest's
	// clock in bench/stats); here: it is recorded, with the target, and
	// never counts an op twice.
	if len(res.Timeline) < 1 || n > res.Ops {
		t.Fatalf("%d points holding %d of %d ops", len(res.Timeline), n, res.Ops)
	}
	if len(res.LatencyCDF) != len(stats.CDFPercentiles) || res.LatencyCDF[len(res.LatencyCDF)-1].Ms != res.Latency.MaxMs {
		t.Fatalf("cdf %v, max %v", res.LatencyCDF, res.Latency.MaxMs)
	}
}
