//go:build linux

package e2e

import (
	"bufio"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDrainOnSIGTERM: SIGTERM makes switchyard tell the clients still in
// the reactor goodbye in their protocol (IMAP "* BYE", LMTP "421") and exit
// well within shutdown_grace when nothing is bridged.
func TestDrainOnSIGTERM(t *testing.T) {
	Gate(t)
	imapAddr, lmtpAddr := FreeAddr(t), FreeAddr(t)
	down := FreePort(t) // a destination nobody listens on: no login happens here
	sy := StartSwitchyardConfig(t, SwitchyardConfig{
		Listeners: []SYListener{
			{ID: "imap", Protocol: "imap", Bind: []string{imapAddr}, TLS: "plain"},
			{ID: "lmtp", Protocol: "lmtp", Bind: []string{lmtpAddr}, TLS: "plain"},
		},
		Destinations: []SYDestination{{ID: "old", Host: "127.0.0.1", Forwarding: "none", AllowPlaintextAuth: true,
			Endpoints: []SYEndpoint{{Protocol: "imap", Port: down, TLS: "plain"}, {Protocol: "lmtp", Port: down, TLS: "plain"}}}},
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
	_, ir := greet(imapAddr, "* OK")
	_, lr := greet(lmtpAddr, "220 ")
	start := time.Now()
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
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("exited after %v", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("switchyard did not exit within 15 s of SIGTERM (shutdown_grace is 30 s; nothing was bridged)")
	}
	if err := sy.Proc.ExitErr(); err != nil {
		t.Errorf("exit status after SIGTERM: %v", err)
	}
}
