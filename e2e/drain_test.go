//go:build linux

package e2e

import (
	"bufio"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// TestDrainOnSIGTERM: SIGTERM makes switchyard tell the clients still in
// the reactor goodbye in their protocol (IMAP "* BYE", LMTP "421") and exit
// cleanly without waiting out shutdown_grace when nothing is bridged (a
// drain cut short by the grace exits with an error).
func TestDrainOnSIGTERM(t *testing.T) {
	harness.Gate(t)
	down := port(t, testnet.RefusingAddr(t)) // a destination nobody listens on: no login happens here
	const grace = time.Minute
	sy := harness.StartSwitchyardConfig(t, harness.SwitchyardConfig{
		ShutdownGrace: grace.String(),
		Listeners: []harness.SYListener{
			{ID: "imap", Protocol: "imap", TLS: "plain"},
			{ID: "lmtp", Protocol: "lmtp", TLS: "plain"},
		},
		Destinations: []harness.SYDestination{{ID: "old", Host: "127.0.0.1", Forwarding: "none", AllowPlaintextAuth: true,
			Endpoints: []harness.SYEndpoint{{Protocol: "imap", Port: down, TLS: "plain"}, {Protocol: "lmtp", Port: down, TLS: "plain"}}}},
		DefaultDestination:       "old",
		AllowPlainAuthWithoutTLS: true,
	})
	greet := func(addr, want string) (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		r := bufio.NewReader(c)
		if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, want) {
			t.Fatalf("greeting on %s: %q %v", addr, l, err)
		}
		return c, r
	}
	_, ir := greet(sy.Addr(t, "imap"), "* OK")
	_, lr := greet(sy.Addr(t, "lmtp"), "220 ")
	if err := sy.Proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if l, _ := ir.ReadString('\n'); !strings.HasPrefix(l, "* BYE") {
		t.Errorf("IMAP client at shutdown got %q, want * BYE", l)
	}
	if l, _ := lr.ReadString('\n'); !strings.HasPrefix(l, "421 4.3.0") {
		t.Errorf("LMTP client at shutdown got %q, want 421 4.3.0", l)
	}
	select {
	case <-sy.Proc.Done():
	case <-time.After(grace + 30*time.Second):
		t.Fatalf("switchyard did not exit within shutdown_grace (%v) of SIGTERM; nothing was bridged", grace)
	}
	if err := sy.Proc.ExitErr(); err != nil {
		t.Errorf("exit status after SIGTERM: %v", err)
	}
}
