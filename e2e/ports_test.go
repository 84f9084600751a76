//go:build linux

package e2e

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// TestDaemonPortTaken: a daemon whose first candidate port is already
// taken by another listener fails to bind it, and the harness starts it
// again on new ports; the stranger on the taken port is never mistaken
// for the daemon. Run for each daemon the harness starts on candidate
// ports.
func TestDaemonPortTaken(t *testing.T) {
	harness.Gate(t)
	stranger := testnet.Listen(t)
	taken := stranger.Addr().String()
	var (
		mu      sync.Mutex
		offered bool
	)
	// The first candidate of each start is the taken address.
	takenFirst := func(t testing.TB) string {
		mu.Lock()
		defer mu.Unlock()
		if !offered {
			offered = true
			return taken
		}
		return testnet.CandidateAddr(t)
	}
	defer func(was func(testing.TB) string) { harness.CandidateAddr = was }(harness.CandidateAddr)
	harness.CandidateAddr = takenFirst
	offer := func() { mu.Lock(); offered = false; mu.Unlock() }
	notTaken := func(t *testing.T, name string, addrs ...string) {
		t.Helper()
		for _, a := range addrs {
			if a == taken {
				t.Fatalf("%s kept the taken address %s", name, taken)
			}
		}
	}

	t.Run("dovecot", func(t *testing.T) {
		harness.RequireBinary(t, "dovecot")
		offer()
		d := peers.StartDovecot(t, "taken", peers.DovecotOptions{})
		notTaken(t, "dovecot", d.Addrs()...)
		if !testnet.AddrInUse(d.Proc.Log(), harness.TailFile(d.LogPath, 1000)) {
			t.Fatalf("dovecot never tried the taken port:\n%s", d.Proc.Log())
		}
		res, err := PythonIMAP(t, IMAPLogin{Addr: d.IMAPAddr, User: "bob@test", Password: peers.DefaultUsers["bob@test"]})
		ExpectMarker(t, res, err, "taken")
	})
	t.Run("nginx", func(t *testing.T) {
		harness.RequireBinary(t, "nginx")
		harness.RequireBinary(t, "curl")
		offer()
		b := peers.StartHTTPBackend(t, "taken")
		notTaken(t, "nginx", b.Addr, b.ProxyAddr)
		if errLog := harness.TailFile(filepath.Join(b.Dir, "error.log"), 1000); !testnet.AddrInUse(errLog) {
			t.Fatalf("nginx never tried the taken port:\n%s", errLog)
		}
		r := CurlOne(t, CurlOptions{}, HTTPRequest{URL: "http://" + b.Addr + "/whoami"})
		if strings.TrimSpace(r.Body) != "taken" {
			t.Fatalf("nginx /whoami: %d %q", r.Status, r.Body)
		}
	})
	t.Run("postfix", func(t *testing.T) {
		harness.RequireBinary(t, "postfix")
		offer()
		p := peers.StartPostfix(t, "taken", peers.PostfixSocketDir(t, "taken"), peers.PostfixOptions{Role: peers.PostfixMX, LMTPAddr: testnet.RefusingAddr(t)})
		notTaken(t, "postfix", p.SMTPAddr)
		c := DialRaw(t, p.SMTPAddr, "")
		if g := c.ReadLine(); !strings.HasPrefix(g, "220 ") {
			t.Fatalf("postfix greeting %q", g)
		}
	})
}
