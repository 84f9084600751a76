package protoload

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/internal/benchtest"
	"github.com/switchyard-mail/switchyard/bench/mocksmtp"
)

func TestLoginOp(t *testing.T) {
	b := backends(t)
	op, err := NewLoginOp(Options{Protocol: POP3, Target: b[POP3], Accounts: imapload.Accounts("user", 50, "pw"), Run: Run{Linger: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := op.Do(context.Background(), imapload.Account{User: "user3", Password: "pw"}); err != nil {
			t.Fatal(err)
		}
	}
	err = op.Do(context.Background(), imapload.Account{User: "user3", Password: "no"})
	if k := ErrorKind("login", err); k != "auth: -ERR [AUTH]" {
		t.Fatalf("kind %q (%v)", k, err)
	}
	if k := ErrorKind("x", errors.New("y")); k != "x: other" {
		t.Fatalf("kind %q", k)
	}
	if op.Latency().Count() != 3 || op.Phases()["logout"].Count != 3 {
		t.Fatalf("latency %d phases %+v", op.Latency().Count(), op.Phases())
	}
}

func TestDeliverer(t *testing.T) {
	m := benchtest.Listen(t, mocksmtp.Listen, mocksmtp.Config{Name: "m", LMTP: true, NoAuth: true})
	d, err := NewDeliverer(DeliverOptions{Protocol: LMTP, Target: m.Addr(), Accounts: imapload.Accounts("user", 10, "pw"),
		Recipients: 2, MessageSize: 3000, PerConnection: 2, Run: Run{Linger: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Conn()
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	for n := int64(0); n < 5; n++ {
		if !c.Send(context.Background(), n) {
			t.Fatalf("message %d not delivered: %v", n, d.Errors().Sorted())
		}
	}
	c.Close()
	c.Close() // closing twice is harmless
	msgs := m.Messages()
	if d.Delivered() != 5 || d.Connections() != 3 || len(msgs) != 5 || d.Errors().Total() != 0 || d.Latency().Count() != 5 {
		t.Fatalf("delivered %d over %d connections, mock %d, errors %v", d.Delivered(), d.Connections(), len(msgs), d.Errors().Sorted())
	}
	if msgs[4].Size != 3000 || len(msgs[4].Rcpts) != 2 || msgs[4].Rcpts[0] != "user8@example.org" {
		t.Fatalf("last message %+v", msgs[4])
	}
	if ph := d.Phases(); ph["connect"].Count != 3 || ph["data"].Count != 5 || ph["quit"].Count != 3 {
		t.Fatalf("phases %+v", ph)
	}
	// A dead target: counted, no panic, and the next Send tries again.
	dead, _ := NewDeliverer(DeliverOptions{Protocol: SMTP, Target: "127.0.0.1:1", Accounts: imapload.Accounts("user", 1, "pw")})
	dc := dead.Conn()
	if dc.Send(context.Background(), 0) || dc.Send(context.Background(), 1) || dead.Errors().Total() != 2 {
		t.Fatalf("dead target: %v", dead.Errors().Sorted())
	}
}
