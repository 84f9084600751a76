package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startRedis runs redis-server on a Unix socket of its own (no port to
// pick) without persistence, stops that PID when the test ends, and
// returns the store URL. It needs SWITCHYARD_E2E=1; a missing
// redis-server skips the test unless SWITCHYARD_E2E_REQUIRE=1.
func startRedis(t *testing.T) string {
	t.Helper()
	if os.Getenv("SWITCHYARD_E2E") != "1" {
		t.Skip("needs redis-server: set SWITCHYARD_E2E=1")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("SWITCHYARD_E2E_REQUIRE") == "1" {
			t.Fatal("redis-server not found")
		}
		t.Skip("redis-server not found")
	}
	dir, err := os.MkdirTemp("/tmp", "syr") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "redis.sock")
	log, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	defer c.Close()
	for deadline := time.Now().Add(20 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "unix://" + sock
}

// TestCutoverAcrossTwoInstances: two instances share Redis (mappings and
// the bus). A cut-over made on A kicks the account's bridged session
// held by B within a second, B reports it, and the next login through
// either instance lands on the new destination.
func TestCutoverAcrossTwoInstances(t *testing.T) {
	url := startRedis(t)
	mapping := fmt.Sprintf("[mapping]\nsource = \"redis\"\nnormalize = \"lowercase\"\npositive_ttl = \"5m\"\nnegative_ttl = \"5m\"\n[mapping.redis]\nurl = %q\n", url)
	a := startConsole(t, consoleOpt{mapping: mapping})
	b := startConsole(t, consoleOpt{mapping: mapping, shared: a})
	// Each hears the other on the bus.
	knows := func(x, y *consoleFixture) bool {
		in := x.api.ok("GET", "/api/v1/instance", "")
		yn := y.api.ok("GET", "/api/v1/instance", "")["name"]
		for _, p := range in["peers"].([]any) {
			if p.(map[string]any)["name"] == yn {
				return true
			}
		}
		return false
	}
	waitFor(t, "A and B know each other", func() bool { return knows(a, b) && knows(b, a) })
	if in := a.api.ok("GET", "/api/v1/instance", ""); in["bus"] != "redis" {
		t.Fatalf("instance: %v", in)
	}

	// dave (no mapping: the default, old) is bridged through B; A's
	// cache says "no mapping" for him too (a 5-minute negative TTL).
	held, where := b.login(t, "dave@example.com", "pw-dave")
	if where != "old" {
		t.Fatalf("dave on %q", where)
	}
	if _, where := a.login(t, "dave@example.com", "pw-dave"); where != "old" {
		t.Fatalf("dave through A on %q", where)
	}
	if e := b.api.ok("GET", "/api/v1/cache/dave@example.com", ""); e["present"] != true || e["kind"] != "no_mapping" {
		t.Fatalf("B's cache: %v", e)
	}

	start := time.Now()
	rep := a.api.ok("POST", "/api/v1/accounts/dave@example.com/cutover", `{"destination":"new"}`)
	expectClosed(t, held, time.Until(start.Add(time.Second)), "dave's session on B, one second after the cut-over began on A")
	ins := map[string]map[string]any{}
	for _, x := range rep["instances"].([]any) {
		m := x.(map[string]any)
		ins[m["instance"].(string)] = m
	}
	bName := b.api.ok("GET", "/api/v1/instance", "")["name"].(string)
	if len(ins) != 2 || ins[bName] == nil || ins[bName]["kicked"] != 1.0 || ins[bName]["self"] != false || len(rep["missing"].([]any)) != 0 ||
		rep["kicked"] != 2.0 {
		t.Fatalf("report: %v", rep)
	}
	// The next login lands on new, through either instance: B dropped its
	// cached "no mapping".
	if _, where := b.login(t, "dave@example.com", "pw-dave"); where != "new" {
		t.Fatalf("dave through B after the cut-over: %q", where)
	}
	if _, where := a.login(t, "dave@example.com", "pw-dave"); where != "new" {
		t.Fatalf("dave through A after the cut-over: %q", where)
	}
	// B's activity log has the hold and the kick.
	evs := b.api.ok("GET", "/api/v1/events?account=dave@example.com&kind=hold,kick", "")["events"].([]any)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.(map[string]any)["kind"].(string)+"/"+fmt.Sprint(e.(map[string]any)["actor"]))
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "hold/bus") || !strings.Contains(got, "kick/") {
		t.Fatalf("B's events: %s", got)
	}
	// Mappings in Redis are listed and counted.
	if c := b.api.ok("GET", "/api/v1/mappings/counts", ""); c["total"] != 1.0 {
		t.Fatalf("counts: %v", c)
	}
	if p := a.api.ok("GET", "/api/v1/mappings?search=DAVE", ""); p["count"] != 1.0 {
		t.Fatalf("list: %v", p)
	}
	rte := b.api.ok("GET", "/api/v1/accounts/dave@example.com/route", "")
	if d := rte["decision"].(map[string]any); d["destination"] != "new" || d["source"] != "store" {
		t.Fatalf("B's route: %v", rte)
	}
	if st := rte["steps"].([]any)[0].(map[string]any); st["kind"] != "redis" || st["outcome"] != "found" {
		t.Fatalf("store step: %v", st)
	}
}
