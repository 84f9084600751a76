package app

import (
	"bufio"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/config"
)

func TestFilterEHLO(t *testing.T) {
	got := filterEHLO(
		[]string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "SIZE 100000000", "CHUNKING"},
		[]string{"PIPELINING", "SIZE 10240000", "8BITMIME", "AUTH PLAIN LOGIN", "DSN"},
	)
	want := []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 10240000"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestLearnEHLO asks a scripted backend, as the submission driver does at
// start, and must not advertise what that backend lacks.
func TestLearnEHLO(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
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
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c := config.Default()
	p, _ := strconv.Atoi(port)
	c.Destination = map[string]config.Destination{"mx": {Host: "127.0.0.1", Protocol: map[config.Protocol]config.Endpoint{config.Submission: {Port: p, TLS: config.TLSPlain}}}}
	c.Routing.DefaultDestination = "mx"
	lines, err := learnEHLO(c, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := filterEHLO([]string{"PIPELINING", "SMTPUTF8", "SIZE"}, lines)
	if !reflect.DeepEqual(got, []string{"PIPELINING", "SIZE 5000"}) {
		t.Fatalf("learned %q -> %q", lines, got)
	}
}
