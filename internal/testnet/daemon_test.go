package testnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// WaitListening counts only the process' own listeners: this test's
// listener is this process', not a child's.
func TestWaitListening(t *testing.T) {
	l := Listen(t)
	if err := WaitListening(os.Getpid(), []string{l.Addr().String()}, 5*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "linux" {
		return
	}
	child := exec.Command("sleep", "0.1")
	if err := child.Start(); err != nil {
		t.Skip(err)
	}
	gone := make(chan struct{})
	go func() { _ = child.Wait(); close(gone) }()
	err := WaitListening(child.Process.Pid, []string{l.Addr().String()}, time.Minute, gone)
	if err == nil || !strings.Contains(err.Error(), "exited before it listened") {
		t.Fatalf("a child that never listened: %v", err)
	}
}

// fakeTB records a Fatalf and ends the goroutine, as testing.T does.
type fakeTB struct {
	testing.TB
	fatal string
	logs  int
}

func (f *fakeTB) Helper()             {}
func (f *fakeTB) Logf(string, ...any) { f.logs++ }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func runDaemon(start func() error) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() { defer close(done); StartDaemon(f, "d", start) }()
	<-done
	return f
}

// StartDaemon retries a lost port a bounded number of times, and nothing
// else.
func TestStartDaemon(t *testing.T) {
	calls := 0
	f := runDaemon(func() error {
		if calls++; calls < 3 {
			return fmt.Errorf("port 1: %w", ErrPortTaken)
		}
		return nil
	})
	if f.fatal != "" || calls != 3 || f.logs != 2 {
		t.Fatalf("taken twice then started: calls %d, fatal %q, logs %d", calls, f.fatal, f.logs)
	}

	calls = 0
	f = runDaemon(func() error { calls++; return fmt.Errorf("port 1: %w", ErrPortTaken) })
	if calls != Attempts || !strings.Contains(f.fatal, ErrPortTaken.Error()) {
		t.Fatalf("always taken: calls %d, fatal %q", calls, f.fatal)
	}

	calls = 0
	f = runDaemon(func() error { calls++; return errors.New("bad configuration") })
	if calls != 1 || !strings.Contains(f.fatal, "bad configuration") {
		t.Fatalf("another failure: calls %d, fatal %q", calls, f.fatal)
	}
}

func TestAddrInUse(t *testing.T) {
	if !AddrInUse("", "nginx: [emerg] bind() to 127.0.0.1:4000 failed (98: Address already in use)") {
		t.Fatal("nginx's message not recognized")
	}
	if AddrInUse("Fatal: bind(127.0.0.1, 4000) failed: Permission denied") {
		t.Fatal("another bind failure taken for a lost port")
	}
}

func TestInUse(t *testing.T) {
	l := Listen(t)
	free := RefusingAddr(t) // held too, but not listening: InUse says so as well
	got := InUse([]string{l.Addr().String(), free})
	if len(got) == 0 || got[0] != l.Addr().String() {
		t.Fatalf("InUse = %v, want %s first", got, l.Addr())
	}
}

// CandidatePort never hands out a port twice.
func TestCandidatePort(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 50; i++ {
		p := CandidatePort(t)
		if seen[p] || p == 0 {
			t.Fatalf("port %d handed out twice (or zero)", p)
		}
		seen[p] = true
	}
}
