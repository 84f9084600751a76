package testnet

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Daemons that cannot report the port they bound (Dovecot, Postfix,
// nginx, Redis, PostgreSQL, MariaDB) must be told a port before they
// start. The rule: the kernel suggests a candidate (CandidatePort), the
// probe socket is closed before the daemon starts, the daemon is started
// on it, and if another process took the port in between the daemon fails
// with "Address already in use"; the start is then repeated on fresh
// candidates, at most Attempts times (StartDaemon). Readiness is the
// daemon's own process listening on every port (WaitListening), so a
// stranger on a candidate port is never mistaken for the daemon.

// Attempts bounds how many sets of candidate ports StartDaemon tries.
const Attempts = 5

// ErrPortTaken is wrapped by a start function whose daemon lost a
// candidate port to another process.
var ErrPortTaken = errors.New("a candidate port was taken before the daemon bound it")

var (
	handedOutMu sync.Mutex
	handedOut   = map[int]bool{}
)

// CandidatePort returns a loopback port the kernel just offered (bound
// on 127.0.0.1:0, then closed). It is only a candidate: start the daemon
// on it through StartDaemon. This test binary never hands a port out
// twice.
func CandidatePort(t testing.TB) int {
	t.Helper()
	handedOutMu.Lock()
	defer handedOutMu.Unlock()
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testnet.CandidatePort: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut[port] {
			handedOut[port] = true
			return port
		}
	}
	t.Fatal("testnet.CandidatePort: no fresh port after 100 tries")
	return 0
}

// CandidateAddr is CandidatePort as "127.0.0.1:PORT".
func CandidateAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(CandidatePort(t)))
}

// StartDaemon calls start until it succeeds, at most Attempts times while
// it fails with ErrPortTaken; any other failure fails t at once. start
// picks its candidate ports itself (fresh ones each call), starts the
// daemon and waits until it is ready.
func StartDaemon(t testing.TB, name string, start func() error) {
	t.Helper()
	for i := 1; ; i++ {
		err := start()
		if err == nil {
			return
		}
		if !errors.Is(err, ErrPortTaken) || i == Attempts {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s: %v; starting it again on new ports (attempt %d of %d)", name, err, i+1, Attempts)
	}
}

// AddrInUse reports whether a daemon's log says a bind failed because the
// address was in use (strerror(EADDRINUSE), as every daemon here prints
// it).
func AddrInUse(logs ...string) bool {
	for _, l := range logs {
		if strings.Contains(strings.ToLower(l), "address already in use") {
			return true
		}
	}
	return false
}

// InUse returns the addresses of addrs that cannot be bound now because
// another socket holds them, for a daemon that exited without saying why
// (Postfix's master logs a failed bind only to syslog). Each probe is
// closed at once.
func InUse(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				out = append(out, a)
			}
			continue
		}
		l.Close()
	}
	return out
}

// WaitListening waits until process pid itself listens on every address
// in addrs ("127.0.0.1:PORT"). It gives up when gone is closed (the
// process exited) or after timeout.
func WaitListening(pid int, addrs []string, timeout time.Duration, gone <-chan struct{}) error {
	ports := make([]int, 0, len(addrs))
	for _, a := range addrs {
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("%s: %v", a, err)
		}
		ports = append(ports, n)
	}
	deadline := time.Now().Add(timeout)
	for {
		missing, err := notListening(pid, ports)
		if err != nil {
			return err
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-gone:
			return fmt.Errorf("process %d exited before it listened on 127.0.0.1 port %v", pid, missing)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d does not listen on 127.0.0.1 port %v after %v", pid, missing, timeout)
		}
	}
}
