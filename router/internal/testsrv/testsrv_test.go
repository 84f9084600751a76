package testsrv

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// takeFirstCandidate makes the next candidate port one that a listener
// of this test holds, and every later one fresh.
func takeFirstCandidate(t *testing.T) int {
	t.Helper()
	l := testnet.Listen(t)
	taken := l.Addr().(*net.TCPAddr).Port
	var once sync.Once
	was := candidatePort
	t.Cleanup(func() { candidatePort = was })
	candidatePort = func(t testing.TB) int {
		p := 0
		once.Do(func() { p = taken })
		if p != 0 {
			return p
		}
		return testnet.CandidatePort(t)
	}
	return taken
}

// TestPortTaken: each server, offered a port another socket holds, says
// so, and is started again on a new port.
func TestPortTaken(t *testing.T) {
	if os.Getenv("SWITCHYARD_E2E") != "1" {
		t.Skip("needs real servers: set SWITCHYARD_E2E=1")
	}
	t.Run("redis", func(t *testing.T) {
		taken := takeFirstCandidate(t)
		r := StartRedis(t)
		if r.port == taken || r.n != 2 || !testnet.AddrInUse(r.logOf(1)) {
			t.Fatalf("port %d (taken %d), %d starts, first log:\n%s", r.port, taken, r.n, r.logOf(1))
		}
	})
	t.Run("postgres", func(t *testing.T) {
		taken := takeFirstCandidate(t)
		p := StartPostgres(t)
		if p.Port == taken || p.n != 2 || !strings.Contains(p.DSN, ":"+itoa(p.Port)+"/") {
			t.Fatalf("port %d (taken %d), %d starts, DSN %s", p.Port, taken, p.n, p.DSN)
		}
	})
	t.Run("mariadb", func(t *testing.T) {
		taken := takeFirstCandidate(t)
		m := StartMariaDB(t)
		if m.Port == taken || m.n != 2 || !strings.Contains(m.DSN, ":"+itoa(m.Port)+"/") {
			t.Fatalf("port %d (taken %d), %d starts, DSN %s", m.Port, taken, m.n, m.DSN)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
