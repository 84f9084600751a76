//go:build linux

package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// TestDaemonPortTaken: a daemon whose first candidate port is already
// taken by another listener fails to bind it, and the harness starts it
// again on new ports; the stranger on the taken port is never mistaken
// for the daemon. Run for each daemon the harness starts on candidate
// ports.
func TestDaemonPortTaken(t *testing.T) {
	Gate(t)
	stranger, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
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
	defer func(was func(testing.TB) string) { candidateAddr = was }(candidateAddr)
	candidateAddr = takenFirst
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
		RequireBinary(t, "dovecot")
		offer()
		d := StartDovecot(t, "taken", DovecotOptions{})
		notTaken(t, "dovecot", d.addrs()...)
		if !testnet.AddrInUse(d.Proc.Log(), TailFile(d.LogPath, 1000)) {
			t.Fatalf("dovecot never tried the taken port:\n%s", d.Proc.Log())
		}
		res, err := PythonIMAP(t, IMAPLogin{Addr: d.IMAPAddr, User: "bob@test", Password: DefaultUsers["bob@test"]})
		ExpectMarker(t, res, err, "taken")
	})
	t.Run("nginx", func(t *testing.T) {
		RequireBinary(t, "nginx")
		RequireBinary(t, "curl")
		offer()
		b := StartHTTPBackend(t, "taken")
		notTaken(t, "nginx", b.Addr, b.ProxyAddr)
		if errLog := TailFile(filepath.Join(b.Dir, "error.log"), 1000); !testnet.AddrInUse(errLog) {
			t.Fatalf("nginx never tried the taken port:\n%s", errLog)
		}
		r := CurlOne(t, CurlOptions{}, HTTPRequest{URL: "http://" + b.Addr + "/whoami"})
		if strings.TrimSpace(r.Body) != "taken" {
			t.Fatalf("nginx /whoami: %d %q", r.Status, r.Body)
		}
	})
	t.Run("postfix", func(t *testing.T) {
		RequireBinary(t, "postfix")
		offer()
		p := StartPostfix(t, "taken", PostfixSocketDir(t, "taken"), PostfixOptions{Role: PostfixMX, LMTPAddr: testnet.RefusingAddr(t)})
		notTaken(t, "postfix", p.SMTPAddr)
		c := DialRaw(t, p.SMTPAddr, "")
		if g := c.ReadLine(); !strings.HasPrefix(g, "220 ") {
			t.Fatalf("postfix greeting %q", g)
		}
	})
}
