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
)

func TestHTTPScenarioAgainstHTTPMock(t *testing.T) {
	a1, a2 := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var mout, merr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--mock-backend", a1 + "," + a2, "--mock-protocol", "http", "--users", "4"}, &mout, &merr)
	}()
	waitListening(t, a1)
	waitListening(t, a2)
	jsonPath := filepath.Join(t.TempDir(), "h.json")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--scenario", "http", "--target", a2, "--users", "4", "--count", "120",
		"--concurrency", "3", "--per-connection", "10", "--body-size", "512", "--pid", itoa(os.Getpid()), "--json", jsonPath}, &out, &errb)
	cancel()
	if code != 0 || <-done != 0 {
		t.Fatalf("exit %d: %s %s", code, errb.String(), merr.String())
	}
	if !strings.Contains(out.String(), "120 ok, 0 failed") || !strings.Contains(out.String(), "backends        new 120") {
		t.Fatalf("output:\n%s", out.String())
	}
	var r struct {
		Scenario string           `json:"scenario"`
		BodySize int              `json:"body_size"`
		Statuses map[string]int64 `json:"statuses"`
	}
	b, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(b, &r); err != nil || r.Scenario != "http" || r.BodySize != 512 || r.Statuses["200"] != 120 {
		t.Fatalf("json %s %v", b, err)
	}
	if !strings.Contains(mout.String(), "mockhttp new: 120 requests, 0 unauthorized") {
		t.Fatalf("mock output:\n%s", mout.String())
	}
	for _, args := range [][]string{
		{"--scenario", "http", "--tls", "starttls", "--count", "1"},
		{"--scenario", "http", "--body-size", "10", "--count", "1"},
		{"--mock-backend", "127.0.0.1:0", "--mock-protocol", "http", "--mock-xclient"},
	} {
		var o, e bytes.Buffer
		if code := run(context.Background(), args, &o, &e); code == 0 || e.Len() == 0 {
			t.Errorf("%v: exit %d, %q", args, code, e.String())
		}
	}
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never listened", addr)
}
