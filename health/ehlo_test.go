package health

import (
	"bufio"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testnet"
	"github.com/switchyard-mail/switchyard/protocols/smtp"
)

// TestEHLO asks a scripted backend, as the submission driver does at
// start, and must not advertise what that backend lacks.
func TestEHLO(t *testing.T) {
	ln := testnet.Listen(t)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		_, _ = c.Write([]byte("220 mx.test ESMTP\r\n"))
		if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "EHLO ") {
			return
		}
		_, _ = c.Write([]byte("250-mx.test\r\n250-PIPELINING\r\n250-SIZE 5000\r\n250 AUTH PLAIN\r\n"))
		_, _ = r.ReadString('\n')
	}()
	lines, err := EHLO(context.Background(), Target{Dest: "mx", Proto: "submission", Addr: ln.Addr().String()}, "proxy.test", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := smtp.NarrowExtensions([]string{"PIPELINING", "SMTPUTF8", "SIZE"}, lines)
	if !reflect.DeepEqual(got, []string{"PIPELINING", "SIZE 5000"}) {
		t.Fatalf("learned %q -> %q", lines, got)
	}
}
