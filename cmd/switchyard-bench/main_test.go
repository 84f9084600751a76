package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapclient"
	"github.com/switchyard-mail/switchyard/bench/mockimap"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestLoginScenarioAgainstMock(t *testing.T) {
	s, err := mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "t", Users: map[string]string{"u0": "pw", "u1": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--scenario", "login", "--target", s.Addr(), "--users", "2", "--user-prefix", "u",
		"--password", "pw", "--auth", "login", "--count", "50", "--concurrency", "4", "--pid", itoa(os.Getpid()), "--json", jsonPath}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "50 ok, 0 failed") || !strings.Contains(out.String(), "target rss") {
		t.Fatalf("output:\n%s", out.String())
	}
	var m map[string]any
	b, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(b, &m); err != nil || m["ops"].(float64) != 50 {
		t.Fatalf("json %s %v", b, err)
	}
	if s.Logins() != 50 {
		t.Fatalf("backend logins %d", s.Logins())
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--scenario", "storm", "--count", "1"},
		{"--tls", "ssl", "--count", "1"},
		{"--users", "0"},
		{"--pprof-url", "http://127.0.0.1:1/"},
		{"--no-such-flag"},
		{"stray"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code == 0 {
			t.Errorf("%v: exit 0", args)
		} else if errb.Len() == 0 {
			t.Errorf("%v: no message", args)
		}
	}
}

func TestMockBackendMode(t *testing.T) {
	a1, a2 := freeAddr(t), freeAddr(t)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("carol s3cret pass\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--mock-backend", a1 + "," + a2, "--users-file", users, "--mock-proxy-header", "--duration", "20s"}, &out, &errb)
	}()
	var c *imapclient.Client
	for i := 0; i < 200; i++ {
		conn, err := net.DialTimeout("tcp", a2, time.Second)
		if err == nil {
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			conn.Write([]byte("PROXY TCP4 192.0.2.1 127.0.0.1 1000 143\r\n"))
			c = imapclient.New(conn)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c == nil {
		t.Fatal("mock backend not listening")
	}
	defer c.Close()
	g, err := c.Greeting()
	if err != nil || !strings.HasSuffix(g, "mockimap new ready") {
		t.Fatalf("greeting %q %v", g, err)
	}
	if err := c.Login("carol", "s3cret pass"); err != nil {
		t.Fatal(err)
	}
	c.Select("INBOX")
	r, err := c.Fetch(false, "1", "BODY[]", true)
	if err != nil || !strings.Contains(string(r.Literals[0]), "backend=new") {
		t.Fatalf("fetch %v %v", r, err)
	}
	cancel() // as SIGINT would
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mock mode did not stop")
	}
	for _, want := range []string{"mockimap old listening on " + a1, "mockimap new listening on " + a2, "mockimap new: 1 logins"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
