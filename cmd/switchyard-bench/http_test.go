package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestHTTPScenarioAgainstHTTPMock(t *testing.T) {
	mock, addrs := startMock(t, 2, "--mock-protocol", "http", "--users", "4")
	a2 := addrs[1]
	out, b := runOK(t, "--scenario", "http", "--target", a2, "--users", "4", "--count", "120",
		"--concurrency", "3", "--per-connection", "10", "--body-size", "512", "--pid", itoa(os.Getpid()))
	mock.stop(t)
	if !strings.Contains(out, "120 ok, 0 failed") || !strings.Contains(out, "backends        new 120") {
		t.Fatalf("output:\n%s", out)
	}
	var r struct {
		Scenario string           `json:"scenario"`
		BodySize int              `json:"body_size"`
		Statuses map[string]int64 `json:"statuses"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Scenario != "http" || r.BodySize != 512 || r.Statuses["200"] != 120 {
		t.Fatalf("json %s %v", b, err)
	}
	if !strings.Contains(mock.out.String(), "mockhttp new: 120 requests, 0 unauthorized") {
		t.Fatalf("mock output:\n%s", mock.out.String())
	}
	expectRefused(t, [][]string{
		{"--scenario", "http", "--tls", "starttls", "--count", "1"},
		{"--scenario", "http", "--body-size", "10", "--count", "1"},
		{"--mock-backend", "127.0.0.1:0", "--mock-protocol", "http", "--mock-xclient"},
	})
}
