package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHTTPScenarioAgainstHTTPMock(t *testing.T) {
	mock, addrs := startMock(t, 2, "--mock-protocol", "http", "--users", "4")
	a2 := addrs[1]
	jsonPath := filepath.Join(t.TempDir(), "h.json")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--scenario", "http", "--target", a2, "--users", "4", "--count", "120",
		"--concurrency", "3", "--per-connection", "10", "--body-size", "512", "--pid", itoa(os.Getpid()), "--json", jsonPath}, &out, &errb)
	mock.stop(t)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
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
	if !strings.Contains(mock.out.String(), "mockhttp new: 120 requests, 0 unauthorized") {
		t.Fatalf("mock output:\n%s", mock.out.String())
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
