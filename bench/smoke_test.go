//go:build linux

// Package bench_test holds the smoke run of the side-by-side harness
// (scripts/bench-peers.sh --smoke): every scenario for a couple of seconds,
// against switchyard and the mock backend only, so that the script, the
// load generator's flags and the summariser cannot drift apart unnoticed.
// It needs no peer proxy. TestDeliverSmoke runs the deliver scenario
// against bench/mocksmtp directly; TestBenchMixedSmoke runs the mixed
// scenario for 3 s through switchyard (scripts/bench-mixed.sh --smoke);
// TestBenchHTTPSmoke runs scripts/bench-http.sh --smoke.
// Gated like the end-to-end suite:
//
//	SWITCHYARD_E2E=1 go test -count=1 -v ./bench/
package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/mocksmtp"
)

// need returns the path of a binary the smoke run cannot do without; it
// skips the test when it is missing, or fails with SWITCHYARD_E2E_REQUIRE=1.
func need(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("SWITCHYARD_E2E_REQUIRE") == "1" {
			t.Fatalf("%s is required (SWITCHYARD_E2E_REQUIRE=1): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// result is the part of switchyard-bench's JSON the smoke run checks.
type result struct {
	Scenario    string `json:"scenario"`
	Ops         int64  `json:"ops"`
	Errors      int64  `json:"errors"`
	Conns       int    `json:"conns"`
	Established int    `json:"established"`
	Alive       int    `json:"alive"`
}

// runSmokeScript runs scripts/NAME --smoke (skipped unless SWITCHYARD_E2E=1)
// with its results in a temporary BENCH_OUT, which it returns with the
// script's standard output. A timeout sends SIGTERM, so that the script's
// trap stops what it started.
func runSmokeScript(t *testing.T, name string) (out, stdout string) {
	t.Helper()
	if os.Getenv("SWITCHYARD_E2E") != "1" {
		t.Skip("set SWITCHYARD_E2E=1 to run the bench harness smoke test")
	}
	bash := need(t, "bash")
	need(t, "python3")
	need(t, "go")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out, bin := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, filepath.Join(root, "scripts", name), "--smoke")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "BENCH_OUT="+out, "BENCH_BIN="+bin)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s --smoke: %v\n--- stderr ---\n%s\n--- stdout ---\n%s", name, err, se.String(), so.String())
	}
	t.Logf("smoke run took %s\n%s", time.Since(start).Round(time.Second), so.String())
	return out, so.String()
}

func TestBenchPeersSmoke(t *testing.T) {
	out, stdout := runSmokeScript(t, "bench-peers.sh")

	for _, f := range []string{
		"login-direct-1", "login-switchyard-1", "login-gnet-enroll-1",
		"idle-direct", "idle-switchyard", "idle-gnet-enroll",
		"bridged-direct", "bridged-switchyard", "bridged-gnet-enroll",
	} {
		b, err := os.ReadFile(filepath.Join(out, f+".json"))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if r.Ops <= 0 || r.Errors != 0 {
			t.Errorf("%s: %d ok, %d errors", f, r.Ops, r.Errors)
		}
		if r.Scenario == "idle" && (r.Established != r.Conns || r.Alive != r.Conns) {
			t.Errorf("%s: %d of %d sessions established, %d alive after the hold", f, r.Established, r.Conns, r.Alive)
		}
		if _, err := os.Stat(filepath.Join(out, f+".proc.json")); err != nil {
			t.Errorf("%s: no process samples: %v", f, err)
		}
	}

	// The summary has the three tables, each with a switchyard row carrying
	// figures (not "n/a").
	s := stdout
	for _, h := range []string{"### Login storm", "### Idle pre-auth connections", "### Idle authenticated (bridged) sessions"} {
		i := strings.Index(s, h)
		if i < 0 {
			t.Errorf("summary lacks %q", h)
			continue
		}
		sec := s[i:]
		if j := strings.Index(sec[len(h):], "\n### "); j >= 0 {
			sec = sec[:len(h)+j]
		}
		found := false
		for _, line := range strings.Split(sec, "\n") {
			if strings.HasPrefix(line, "| switchyard |") {
				found = true
				if strings.Contains(line, "n/a") && !strings.Contains(line, "| n/a B |") {
					t.Errorf("%s: switchyard row without figures: %s", h, line)
				}
			}
		}
		if !found {
			t.Errorf("%s: no switchyard row", h)
		}
	}
}

// TestDeliverSmoke runs switchyard-bench's deliver scenario for a moment
// against bench/mocksmtp directly (SMTP and LMTP, 1 KiB and 1 MiB
// messages, two recipients each), and checks the mock received exactly the
// messages the bench counts as delivered. It needs nothing of switchyard.
func TestDeliverSmoke(t *testing.T) {
	if os.Getenv("SWITCHYARD_E2E") != "1" {
		t.Skip("set SWITCHYARD_E2E=1 to run the bench harness smoke test")
	}
	gobin := need(t, "go")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "switchyard-bench")
	build := exec.Command(gobin, "build", "-o", bin, "./cmd/switchyard-bench")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, proto := range []string{"smtp", "lmtp"} {
		for _, size := range []int{1024, 1 << 20} {
			t.Run(fmt.Sprintf("%s-%d", proto, size), func(t *testing.T) {
				m, err := mocksmtp.Listen("127.0.0.1:0", mocksmtp.Config{Name: "smoke-" + proto, LMTP: proto == "lmtp",
					NoAuth: true, DiscardBodies: true})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				jsonPath := filepath.Join(t.TempDir(), "deliver.json")
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, "--scenario", "deliver", "--protocol", proto, "--target", m.Addr(),
					"--message-size", fmt.Sprint(size), "--recipients", "2", "--users", "10",
					"--concurrency", "4", "--duration", "2s", "--progress", "0", "--json", jsonPath)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("switchyard-bench: %v\n%s", err, out)
				}
				var r struct {
					result
					RcptsDelivered int64 `json:"rcpts_delivered"`
					MessageSize    int   `json:"message_size"`
				}
				b, err := os.ReadFile(jsonPath)
				if err == nil {
					err = json.Unmarshal(b, &r)
				}
				if err != nil {
					t.Fatal(err)
				}
				msgs := m.Messages()
				t.Logf("%s %d bytes: %d messages delivered, %d recorded by the mock", proto, size, r.Ops, len(msgs))
				if r.Scenario != "deliver" || r.Ops <= 0 || r.Errors != 0 || r.MessageSize != size || r.RcptsDelivered != 2*r.Ops {
					t.Fatalf("result %+v\n%s", r, out)
				}
				if int64(len(msgs)) != r.Ops || int64(m.Accepted()) != r.Ops {
					t.Fatalf("bench delivered %d, mock recorded %d (accepted %d)", r.Ops, len(msgs), m.Accepted())
				}
				for _, msg := range msgs {
					if msg.Size != size || len(msg.Rcpts) != 2 {
						t.Fatalf("message of %d bytes to %v", msg.Size, msg.Rcpts)
					}
				}
			})
		}
	}
}

// TestBenchMixedSmoke runs scripts/bench-mixed.sh --smoke: the mock
// backends of every protocol, one switchyard with a listener per protocol,
// and the mixed scenario for 3 s direct and through switchyard. Every
// component must have completed operations without an error, every idle
// session must have survived the run, and every delivery the bench
// counted must have reached its mock.
func TestBenchMixedSmoke(t *testing.T) {
	out, stdout := runSmokeScript(t, "bench-mixed.sh")

	want := []string{"idle-imap", "login-imap", "login-pop3", "login-submission", "fetch-imap", "deliver-lmtp", "deliver-smtp"}
	for _, f := range []string{"direct-1", "switchyard-1"} {
		b, err := os.ReadFile(filepath.Join(out, f+".json"))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		var r struct {
			Scenario   string `json:"scenario"`
			Errors     int64  `json:"errors"`
			Components []struct {
				Name        string `json:"name"`
				Ops         int64  `json:"ops"`
				Errors      int64  `json:"errors"`
				ErrorKinds  []any  `json:"errors_by_kind"`
				Sessions    int    `json:"sessions"`
				Established int    `json:"established"`
				Alive       int    `json:"alive"`
				Timeline    []any  `json:"timeline"`
			} `json:"components"`
			Timeline   []map[string]any `json:"timeline"`
			TargetCost map[string]any   `json:"target_cost"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		// At least one timeline interval: how many fit in a short run is up
		// to the scheduler.
		if r.Scenario != "mixed" || len(r.Components) != len(want) || r.TargetCost == nil || len(r.Timeline) < 1 {
			t.Errorf("%s: scenario %q, %d errors, %d components, cost %v, %d timeline points", f, r.Scenario, r.Errors, len(r.Components), r.TargetCost, len(r.Timeline))
			continue
		}
		if r.Errors != 0 {
			t.Errorf("%s: %d errors (by component below)", f, r.Errors)
		}
		for i, c := range r.Components {
			if c.Name != want[i] || c.Ops <= 0 || c.Errors != 0 {
				t.Errorf("%s: component %d: %s, %d ok, %d errors %v", f, i, c.Name, c.Ops, c.Errors, c.ErrorKinds)
			}
			if c.Name == "idle-imap" && (c.Sessions != 210 || c.Established != c.Sessions || c.Alive != c.Sessions) {
				t.Errorf("%s: idle sessions %d asked, %d established, %d alive at the end", f, c.Sessions, c.Established, c.Alive)
			}
			if c.Name != "idle-imap" && len(c.Timeline) < 1 {
				t.Errorf("%s: %s has %d timeline points", f, c.Name, len(c.Timeline))
			}
		}
	}
	s := stdout
	for _, n := range want[1:] {
		if !strings.Contains(s, "| "+n+" |") {
			t.Errorf("summary lacks a %s row", n)
		}
	}
	m := regexp.MustCompile(`lmtp (\d+) accepted / (\d+) sent; smtp (\d+) accepted / (\d+) sent`).FindStringSubmatch(s)
	if m == nil || m[1] != m[2] || m[3] != m[4] || m[2] == "0" || m[4] == "0" {
		t.Errorf("deliveries counted by the bench and by the mocks differ: %v", m)
	}
}

// TestBenchHTTPSmoke runs scripts/bench-http.sh --smoke: two mock HTTP
// backends, switchyard with an http listener routing by the account in
// Authorization (and nginx in front of one backend, when installed), the
// http scenario for 2 s against each. Every run must have answered
// requests without an error, switchyard's must have reached both
// backends, and the summary must carry the ratios.
func TestBenchHTTPSmoke(t *testing.T) {
	out, stdout := runSmokeScript(t, "bench-http.sh")
	cells := []string{"direct", "switchyard"}
	if _, err := exec.LookPath("nginx"); err == nil {
		cells = append(cells, "nginx")
	}
	for _, c := range cells {
		b, err := os.ReadFile(filepath.Join(out, c+"-1.json"))
		if err != nil {
			t.Errorf("%s: %v", c, err)
			continue
		}
		var r struct {
			result
			Statuses   map[string]int64 `json:"statuses"`
			Backends   map[string]int64 `json:"backends"`
			TargetCost map[string]any   `json:"target_cost"`
			Timeline   []any            `json:"timeline"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Errorf("%s: %v", c, err)
			continue
		}
		if r.Scenario != "http" || r.Ops <= 0 || r.Errors != 0 || r.Statuses["200"] != r.Ops || r.TargetCost == nil || len(r.Timeline) < 1 {
			t.Errorf("%s: scenario %q, %d ok, %d errors, statuses %v, cost %v, %d timeline points", c, r.Scenario, r.Ops, r.Errors, r.Statuses, r.TargetCost, len(r.Timeline))
		}
		if c == "switchyard" && (r.Backends["old"] == 0 || r.Backends["new"] == 0) {
			t.Errorf("switchyard: requests did not reach both backends: %v", r.Backends)
		}
		if c != "switchyard" && r.Backends["old"] != r.Ops {
			t.Errorf("%s: backends %v, want all on old", c, r.Backends)
		}
	}
	s := stdout
	for _, want := range []string{"| switchyard |", "Ratios (same run): switchyard / direct", "Backends that answered through switchyard"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}
