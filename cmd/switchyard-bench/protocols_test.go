package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Each --mock-protocol backend, loaded by the same binary's --protocol.
func TestProtocolLoginAgainstProtocolMock(t *testing.T) {
	for _, proto := range []string{"pop3", "submission", "managesieve"} {
		t.Run(proto, func(t *testing.T) {
			mock, addrs := startMock(t, 1, "--mock-protocol", proto, "--mock-xclient",
				"--users", "3", "--password", "pw", "--duration", "30s")
			addr := addrs[0]
			out, b := runOK(t, "--scenario", "login", "--protocol", proto, "--target", addr,
				"--users", "3", "--password", "pw", "--count", "30", "--concurrency", "3", "--pid", itoa(os.Getpid()))
			if !strings.Contains(out, "30 ok, 0 failed") || !strings.Contains(out, "protocol      "+proto) {
				t.Fatalf("output:\n%s", out)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil || m["ops"].(float64) != 30 || m["protocol"] != proto || m["target_cost"] == nil {
				t.Fatalf("json %s %v", b, err)
			}
			mock.stop(t)
			if !strings.Contains(mock.out.String(), "mock"+proto+" old listening on "+addr) {
				t.Fatalf("mock output:\n%s", mock.out.String())
			}
			if proto != "managesieve" && !strings.Contains(mock.out.String(), "old: 30 logins") {
				t.Fatalf("mock output:\n%s", mock.out.String())
			}
		})
	}
}

// --mock-xclient makes the POP3 mock advertise XCLIENT.
func TestProtocolMockXClient(t *testing.T) {
	mock, addrs := startMock(t, 1, "--mock-protocol", "pop3", "--mock-xclient", "--duration", "20s")
	conn, err := net.DialTimeout("tcp", addrs[0], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	r.ReadString('\n')
	conn.Write([]byte("CAPA\r\n"))
	var caps []string
	for {
		l, err := r.ReadString('\n')
		if err != nil || l == ".\r\n" {
			break
		}
		caps = append(caps, strings.TrimSpace(l))
	}
	if !strings.Contains(strings.Join(caps, " "), "XCLIENT") {
		t.Fatalf("CAPA %q", caps)
	}
	mock.stop(t)
}

func TestProtocolBadFlags(t *testing.T) {
	expectRefused(t, [][]string{
		{"--protocol", "nntp", "--count", "1"},
		{"--protocol", "pop3", "--scenario", "idle"},
		{"--protocol", "submission", "--auth", "user", "--count", "1"},
		{"--protocol", "pop3", "--tls", "starttls", "--count", "1"},
		{"--protocol", "pop3", "--no-sasl-ir", "--count", "1"},
		{"--mock-backend", "127.0.0.1:0", "--mock-protocol", "pop3", "--mock-tls"},
		{"--mock-backend", "127.0.0.1:0", "--mock-protocol", "submission", "--mock-proxy-header"},
		{"--mock-backend", "127.0.0.1:0", "--mock-protocol", "x"},
	})
}

// --scenario deliver against the same binary's --mock-protocol smtp/lmtp.
func TestDeliverAgainstDeliveryMock(t *testing.T) {
	for _, proto := range []string{"smtp", "lmtp"} {
		t.Run(proto, func(t *testing.T) {
			mock, addrs := startMock(t, 1, "--mock-protocol", proto, "--mock-names", "m"+proto,
				"--mock-known-recipients", "--users", "4", "--duration", "30s")
			addr := addrs[0]
			out, b := runOK(t, "--scenario", "deliver", "--protocol", proto, "--target", addr,
				"--users", "4", "--recipients", "2", "--message-size", "3000", "--per-connection", "5",
				"--count", "40", "--concurrency", "2", "--pid", itoa(os.Getpid()))
			if !strings.Contains(out, "40 ok, 0 failed") || !regexp.MustCompile(`(?m)^protocol +`+proto+`$`).MatchString(out) ||
				!regexp.MustCompile(`(?m)^delivered +40 messages, 80 recipients`).MatchString(out) {
				t.Fatalf("output:\n%s", out)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil || m["ops"].(float64) != 40 || m["protocol"] != proto ||
				m["scenario"] != "deliver" || m["connections"].(float64) < 8 || m["target_cost"] == nil {
				t.Fatalf("json %s %v", b, err)
			}
			mock.stop(t)
			if !strings.Contains(mock.out.String(), "mock"+proto+" m"+proto+" listening on "+addr+" (4 known recipients)") ||
				!strings.Contains(mock.out.String(), "m"+proto+": 40 messages accepted") {
				t.Fatalf("mock output:\n%s", mock.out.String())
			}
		})
	}
}

func TestDeliverBadFlags(t *testing.T) {
	expectRefused(t, [][]string{
		{"--scenario", "deliver", "--count", "1"},
		{"--scenario", "deliver", "--protocol", "pop3", "--count", "1"},
		{"--scenario", "deliver", "--protocol", "smtp", "--tls", "implicit", "--count", "1"},
		{"--scenario", "deliver", "--protocol", "lmtp", "--message-size", "10", "--count", "1"},
		{"--scenario", "deliver", "--protocol", "lmtp", "--recipients", "5", "--users", "4", "--count", "1"},
		{"--mock-backend", "127.0.0.1:0", "--mock-protocol", "lmtp", "--mock-proxy-header"},
	})
}
