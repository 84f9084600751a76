package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapclient"
	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// mockRun is a --mock-backend run in the background.
type mockRun struct {
	out, err testnet.Buffer
	done     chan int
	cancel   context.CancelFunc
}

var listeningRe = regexp.MustCompile(`listening on (\S+)`)

// startMock runs the mock backend mode on n backends bound to
// 127.0.0.1:0 and returns the addresses they report ("listening on
// ADDR"), in order: the kernel picks the ports, nothing is guessed.
func startMock(t *testing.T, n int, args ...string) (*mockRun, []string) {
	t.Helper()
	binds := make([]string, n)
	for i := range binds {
		binds[i] = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m := &mockRun{done: make(chan int, 1), cancel: cancel}
	go func() {
		m.done <- run(ctx, append([]string{"--mock-backend", strings.Join(binds, ",")}, args...), &m.out, &m.err)
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if ms := listeningRe.FindAllStringSubmatch(m.out.String(), -1); len(ms) >= n {
			addrs := make([]string, n)
			for i := range addrs {
				addrs[i] = ms[i][1]
			}
			return m, addrs
		}
		select {
		case code := <-m.done:
			t.Fatalf("mock exited %d before listening: %s", code, m.err.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mock backends never said where they listen:\n%s", m.out.String())
		}
	}
}

// stop cancels the mock run, as SIGINT would, and fails unless it exits 0.
func (m *mockRun) stop(t *testing.T) {
	t.Helper()
	m.cancel()
	select {
	case code := <-m.done:
		if code != 0 {
			t.Fatalf("mock exit %d: %s", code, m.err.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mock mode did not stop")
	}
}

func TestLoginScenarioAgainstMock(t *testing.T) {
	s, err := mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "t", Users: map[string]string{"u0": "pw", "u1": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, b := runOK(t, "--scenario", "login", "--target", s.Addr(), "--users", "2", "--user-prefix", "u",
		"--password", "pw", "--auth", "login", "--count", "50", "--concurrency", "4", "--pid", itoa(os.Getpid()))
	if !strings.Contains(out, "50 ok, 0 failed") || !strings.Contains(out, "target rss") {
		t.Fatalf("output:\n%s", out)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["ops"].(float64) != 50 {
		t.Fatalf("json %s %v", b, err)
	}
	if s.Logins() != 50 {
		t.Fatalf("backend logins %d", s.Logins())
	}
}

// TestOpenLoopLogin: --rate runs the login storm open-loop and says so
// in the table and the JSON.
func TestOpenLoopLogin(t *testing.T) {
	s, err := mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "t", Users: map[string]string{"u0": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, b := runOK(t, "--scenario", "login", "--target", s.Addr(), "--users", "1", "--user-prefix", "u",
		"--password", "pw", "--count", "20", "--rate", "500", "--concurrency", "8")
	if !strings.Contains(out, "20 ok, 0 failed") || !strings.Contains(out, "open-loop rate") {
		t.Fatalf("output:\n%s", out)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["rate"] != 500.0 || m["ops"] != 20.0 {
		t.Fatalf("json %s %v", b, err)
	}
}

func TestBadFlags(t *testing.T) {
	expectRefused(t, [][]string{
		{"--rate", "-1", "--count", "1"},
		{"--rate", "10", "--scenario", "idle"},
		{"--rate", "10", "--protocol", "pop3"},
		{"--scenario", "storm", "--count", "1"},
		{"--tls", "ssl", "--count", "1"},
		{"--users", "0"},
		{"--pprof-url", "http://127.0.0.1:1/"},
		{"--no-such-flag"},
		{"stray"},
	})
}

func TestMockBackendMode(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("carol s3cret pass\n"), 0o644)
	mock, addrs := startMock(t, 2, "--users-file", users, "--mock-proxy-header", "--duration", "20s")
	a1, a2 := addrs[0], addrs[1]
	conn, err := net.DialTimeout("tcp", a2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write([]byte("PROXY TCP4 192.0.2.1 127.0.0.1 1000 143\r\n"))
	c := imapclient.New(conn)
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
	mock.stop(t)
	for _, want := range []string{"mockimap old listening on " + a1, "mockimap new listening on " + a2, "mockimap new: 1 logins"} {
		if !strings.Contains(mock.out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, mock.out.String())
		}
	}
}

// runOK runs the command with args and --json to a temporary file, fails
// the test unless it exits 0, and returns its standard output and the
// JSON document it wrote.
func runOK(t *testing.T, args ...string) (out string, js []byte) {
	t.Helper()
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	var o, e bytes.Buffer
	if code := run(context.Background(), append(args, "--json", jsonPath), &o, &e); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, e.String(), o.String())
	}
	js, _ = os.ReadFile(jsonPath)
	return o.String(), js
}

// expectRefused fails the test for each args the command accepts (exit
// 0) or refuses without a message on standard error.
func expectRefused(t *testing.T, cases [][]string) {
	t.Helper()
	for _, args := range cases {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code == 0 || errb.Len() == 0 {
			t.Errorf("%v: exit %d, %q", args, code, errb.String())
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
