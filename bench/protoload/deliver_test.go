package protoload

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/internal/benchtest"
	"github.com/switchyard-mail/switchyard/bench/mocksmtp"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

func TestMessageBody(t *testing.T) {
	for _, size := range []int{MinMessageSize, 257, 300, 389, 390, 391, 392, 1024, 4097, 1 << 20} {
		b := MessageBody(size)
		if len(b) != size || !bytes.HasSuffix(b, []byte("\r\n")) || !bytes.HasPrefix(b, []byte(messageHeader)) {
			t.Fatalf("size %d: got %d bytes, ends %q", size, len(b), b[len(b)-4:])
		}
		lines := bytes.Split(b[:len(b)-2], []byte("\r\n"))
		dots := 0
		for _, l := range lines {
			if len(l) > 78 || bytes.ContainsAny(l, "\r\n") {
				t.Fatalf("size %d: line %q", size, l)
			}
			if bytes.HasPrefix(l, []byte(".")) {
				dots++
			}
		}
		if size >= 4096 && dots == 0 {
			t.Fatalf("size %d: no line starts with a dot", size)
		}
		st := dotStuff(b)
		if !bytes.HasSuffix(st, []byte("\r\n.\r\n")) || len(st) != size+dots+3 {
			t.Fatalf("size %d: stuffed %d bytes, %d dots", size, len(st), dots)
		}
	}
}

func TestDeliverBothProtocols(t *testing.T) {
	accts := imapload.Accounts("user", 10, "pw")
	cases := []struct {
		proto   Protocol
		size    int
		rcpts   int
		perConn int
		noPipe  bool
	}{
		{SMTP, 1024, 1, 0, false},
		{LMTP, 1024, 3, 0, false},
		{SMTP, 5000, 2, 1, true},
		{LMTP, 70000, 2, 3, true},
	}
	for _, c := range cases {
		name := string(c.proto)
		t.Run(name, func(t *testing.T) {
			m := benchtest.Listen(t, mocksmtp.Listen, mocksmtp.Config{Name: "m", LMTP: c.proto == LMTP, NoAuth: true})
			res, err := RunDeliver(context.Background(), DeliverOptions{
				Protocol: c.proto, Target: m.Addr(), Accounts: accts, MessageSize: c.size, Recipients: c.rcpts,
				PerConnection: c.perConn, NoPipelining: c.noPipe,
				Run: Run{Concurrency: 3, Count: 30, Sampler: &stats.Sampler{PID: os.Getpid()}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops != 30 || res.Errors != 0 || res.RcptsDelivered != int64(30*c.rcpts) || res.Partial != 0 {
				t.Fatalf("ops %d errors %v rcpts %d", res.Ops, res.ErrorsByKind, res.RcptsDelivered)
			}
			// A worker may find the count used up before it connects.
			minConns, maxConns := int64(1), int64(3)
			if c.perConn > 0 {
				minConns = 30 / int64(c.perConn)
				maxConns = minConns + 3
			}
			if res.Connections < minConns || res.Connections > maxConns {
				t.Fatalf("connections %d, want %d..%d", res.Connections, minConns, maxConns)
			}
			if res.Latency.Count != 30 || res.Phases["data"].Count != 30 || res.MBPerSec <= 0 || res.TargetCost == nil {
				t.Fatalf("latency %+v phases %+v", res.Latency, res.Phases)
			}
			msgs := m.Messages()
			if len(msgs) != 30 {
				t.Fatalf("mock got %d messages", len(msgs))
			}
			body := string(MessageBody(c.size))
			seen := map[string]int{}
			for _, msg := range msgs {
				if msg.Data != body || len(msg.Rcpts) != c.rcpts || msg.From != "bench@bench.test" || msg.Helo != "bench.test" {
					t.Fatalf("message from %q to %v, %d bytes, helo %q", msg.From, msg.Rcpts, msg.Size, msg.Helo)
				}
				for _, r := range msg.Rcpts {
					if !strings.HasPrefix(r, "user") || !strings.HasSuffix(r, "@example.org") {
						t.Fatalf("recipient %q", r)
					}
					seen[r]++
				}
			}
			if len(seen) != 10 {
				t.Fatalf("recipients used: %v", seen)
			}
			j, b := benchtest.JSON(t, res.WriteJSON)
			if j["scenario"] != "deliver" || j["protocol"] != string(c.proto) ||
				j["ops"].(float64) != 30 || j["message_size"].(float64) != float64(c.size) || j["latency"] == nil {
				t.Fatalf("json %s", b)
			}
			var out bytes.Buffer
			if err := res.WriteText(&out); err != nil || !strings.Contains(out.String(), "30 ok, 0 failed") ||
				!regexp.MustCompile(`(?m)^protocol +`+string(c.proto)+`$`).MatchString(out.String()) {
				t.Fatalf("text %v:\n%s", err, out.String())
			}
		})
	}
}

func TestDeliverRefusalsAndDrops(t *testing.T) {
	// user0..user4 are known; messages to user5..user9 are refused.
	known := []string{"user0@example.org", "user1@example.org", "user2@example.org", "user3@example.org", "user4@example.org"}
	m := benchtest.Listen(t, mocksmtp.Listen, mocksmtp.Config{Name: "m", LMTP: true, NoAuth: true, Recipients: known})
	res, err := RunDeliver(context.Background(), DeliverOptions{
		Protocol: LMTP, Target: m.Addr(), Accounts: imapload.Accounts("user", 10, "pw"),
		Recipients: 1,
		Run:        Run{Concurrency: 1, Count: 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 10 || m.Accepted() != 10 || res.Errors != 10 || len(res.ErrorsByKind) != 1 || res.ErrorsByKind[0].Kind != "rcpt: 550 5.1.1" {
		t.Fatalf("ops %d accepted %d errors %v", res.Ops, m.Accepted(), res.ErrorsByKind)
	}
	// Two recipients per message, user4+user5 straddle: partial.
	res, err = RunDeliver(context.Background(), DeliverOptions{
		Protocol: LMTP, Target: m.Addr(), Accounts: imapload.Accounts("user", 10, "pw")[4:6],
		Recipients: 2, NoPipelining: true,
		Run: Run{Concurrency: 1, Count: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 0 || res.Partial != 3 || res.RcptsDelivered != 3 {
		t.Fatalf("ops %d partial %d rcpts %d errors %v", res.Ops, res.Partial, res.RcptsDelivered, res.ErrorsByKind)
	}

	// A backend that drops the connection mid-body: I/O errors, reconnects.
	d := benchtest.Listen(t, mocksmtp.Listen, mocksmtp.Config{Name: "d", NoAuth: true, DropAfterBodyBytes: 4000})
	res, err = RunDeliver(context.Background(), DeliverOptions{
		Protocol: SMTP, Target: d.Addr(), Accounts: imapload.Accounts("user", 10, "pw"),
		MessageSize: 100000,
		Run:         Run{Concurrency: 2, Count: 6, Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 0 || res.Errors != 6 || d.Accepted() != 0 || res.Connections < 6 || res.Connections > 8 {
		t.Fatalf("ops %d errors %v conns %d", res.Ops, res.ErrorsByKind, res.Connections)
	}
	for _, k := range res.ErrorsByKind {
		if !strings.HasPrefix(k.Kind, "data: ") {
			t.Fatalf("error kinds %v", res.ErrorsByKind)
		}
	}
}

func TestDeliverOptionChecks(t *testing.T) {
	accts := imapload.Accounts("user", 2, "pw")
	for _, o := range []DeliverOptions{
		{Protocol: "pop3", Target: "127.0.0.1:1", Accounts: accts},
		{Protocol: SMTP, Target: "127.0.0.1:1", Accounts: accts, MessageSize: 10},
		{Protocol: SMTP, Target: "127.0.0.1:1", Accounts: accts, Recipients: 3},
		{Protocol: SMTP, Target: "127.0.0.1:1", Accounts: accts, PerConnection: -1},
		{Protocol: LMTP, Target: "nope", Accounts: accts},
		{Protocol: LMTP, Target: "127.0.0.1:1", Accounts: accts, From: "a b"},
	} {
		if _, err := RunDeliver(context.Background(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
