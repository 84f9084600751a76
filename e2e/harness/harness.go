//go:build linux

package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// Environment variables that control the suite.
const (
	// EnvEnable must be "1" for any end-to-end test to run.
	EnvEnable = "SWITCHYARD_E2E"
	// EnvRequire set to "1" turns a missing peer binary into a failure
	// instead of a skip (CI sets it).
	EnvRequire = "SWITCHYARD_E2E_REQUIRE"
)

// Gate skips t unless the suite is enabled. Call it first in every
// top-level test of the package.
func Gate(t testing.TB) {
	t.Helper()
	if os.Getenv(EnvEnable) != "1" {
		t.Skipf("end-to-end tests are off: set %s=1 to run them (they start Dovecot, curl, python3, imtest and the switchyard binary)", EnvEnable)
	}
}

// extraBinDirs are searched after $PATH: Debian installs Cyrus' test
// clients outside of it.
var extraBinDirs = []string{"/usr/lib/cyrus/bin", "/usr/sbin", "/sbin"}

// LookBinary finds a program in $PATH or in the usual Debian places.
func LookBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range extraBinDirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in $PATH or %s", name, strings.Join(extraBinDirs, ", "))
}

// RequireBinary returns the path of a program the test needs. When it is
// missing the test is skipped, or fails when SWITCHYARD_E2E_REQUIRE=1.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := LookBinary(name)
	if err == nil {
		return p
	}
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%v (required because %s=1)", err, EnvRequire)
	}
	t.Skipf("%v; install it or unset the test's need (set %s=1 to make this a failure)", err, EnvRequire)
	return ""
}

// Daemons that cannot report the port they bound (Dovecot, Postfix,
// nginx) are started through startDaemon on candidate ports, and started
// again on new ones if another process took one meanwhile (README.md,
// "Ports"). Everything that can bind port 0 does: switchyard (its ready
// file), the in-process servers.

// CandidateAddr picks a candidate loopback address for a daemon that must
// be told its port before it starts; tests may replace it.
var CandidateAddr = testnet.CandidateAddr

// StartDaemon starts p through testnet.StartDaemon: each attempt calls
// configure, which picks fresh candidate addresses (CandidateAddr),
// writes the daemon's configuration and returns the addresses; then p is
// started and waited for until its own process listens on every one. An
// attempt whose daemon gave up on a port "already in use" (said in p's
// log or one of logs, the daemon's own log files) is repeated on new
// ports; any other failure fails t.
func StartDaemon(t testing.TB, p *Process, configure func() ([]string, error), logs ...string) {
	t.Helper()
	paths := append([]string{p.LogPath}, logs...)
	testnet.StartDaemon(t, p.Name, func() error {
		addrs, err := configure()
		if err != nil {
			return err
		}
		marks := make([]LogMark, len(paths))
		for i, path := range paths {
			marks[i] = MarkOf(path)
		}
		if err := p.Start(); err != nil {
			return err
		}
		err = testnet.WaitListening(p.PID(), addrs, 30*time.Second, p.Done())
		if err == nil {
			return nil
		}
		if serr := p.Stop(); serr != nil {
			err = fmt.Errorf("%v; %v", err, serr)
		}
		var since []string
		for i, path := range paths {
			since = append(since, logSince(path, marks[i]))
		}
		if testnet.AddrInUse(since...) {
			return fmt.Errorf("%v: %w", err, testnet.ErrPortTaken)
		}
		if taken := testnet.InUse(addrs); len(taken) > 0 && !p.Running() {
			// It exited without saying why, and a port of its is held by
			// another socket (Postfix's master logs a failed bind only
			// to syslog).
			return fmt.Errorf("%v; %v held by another socket: %w", err, taken, testnet.ErrPortTaken)
		}
		return fmt.Errorf("%v\n%s", err, strings.Join(since, "\n"))
	})
}

// StopDaemon stops p (SIGTERM to its PID) and waits until addr refuses
// connections; failures name the daemon by name ("dovecot NAME").
func StopDaemon(t testing.TB, p *Process, name, addr string) {
	t.Helper()
	if err := p.Stop(); err != nil {
		t.Fatalf("stop %s: %v", name, err)
	}
	err := Eventually(5*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return nil
		}
		c.Close()
		return fmt.Errorf("%s still accepts connections", addr)
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// RestartDaemon starts p again on the ports it had: a test that stops a
// backend and brings it back needs the same address. Should another
// process have taken a port meanwhile, the test fails saying so.
func RestartDaemon(t testing.TB, p *Process, addrs []string) {
	t.Helper()
	if err := p.Start(); err != nil {
		t.Fatalf("restart %s: %v", p.Name, err)
	}
	if err := testnet.WaitListening(p.PID(), addrs, 30*time.Second, p.Done()); err != nil {
		_ = p.Stop()
		t.Fatalf("restart %s on its ports %v: %v\n%s", p.Name, addrs, err, TailFile(p.LogPath, 20))
	}
}

// logSince returns what the log at path got after mark.
func logSince(path string, mark LogMark) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(mark) > int64(len(b)) {
		return ""
	}
	return string(b[mark:])
}

// WaitPort waits until something accepts TCP connections on addr, for at
// most timeout.
func WaitPort(addr string, timeout time.Duration) error {
	return waitPortOr(addr, timeout, nil)
}

// waitPortOr is WaitPort that gives up early when gone is closed (the
// process that should listen has exited).
func waitPortOr(addr string, timeout time.Duration, gone <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		last = err
		select {
		case <-gone:
			return fmt.Errorf("process exited before %s accepted connections (last dial error: %v)", addr, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing accepted connections on %s within %v (last dial error: %v)", addr, timeout, last)
}

// Process is a server started by a test: its own log file, its PID, and a
// cleanup that stops exactly that PID.
type Process struct {
	Name    string
	Path    string
	Args    []string
	Env     []string // extra environment, appended to os.Environ()
	Dir     string   // working directory
	LogPath string   // stdout and stderr, appended across restarts

	mu      sync.Mutex
	cmd     *exec.Cmd
	pid     int
	done    chan struct{}
	waitErr error
}

// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
var StopTimeout = 10 * time.Second

// StartProcess starts path with args in the foreground of the test, with
// stdout and stderr going to dir/name.log. The process is stopped (SIGTERM
// to its PID, SIGKILL after StopTimeout) when the test ends. The log's tail
// is printed if the test failed.
func StartProcess(t testing.TB, dir, name, path string, args ...string) *Process {
	t.Helper()
	p := NewProcess(t, dir, name, path, args...)
	if err := p.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return p
}

// NewProcess is StartProcess without the start: the caller calls Start
// (again, after an exit).
func NewProcess(t testing.TB, dir, name, path string, args ...string) *Process {
	t.Helper()
	p := &Process{
		Name:    name,
		Path:    path,
		Args:    args,
		Dir:     dir,
		LogPath: filepath.Join(dir, name+".log"),
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Logf("stop %s: %v", name, err)
		}
		logTails(t, 60, p.LogPath)
	})
	return p
}

// TailOnFailure logs the last n lines of each file at paths when t ends
// failed: a daemon's own logs, next to its output (Process).
func TailOnFailure(t testing.TB, n int, paths ...string) {
	t.Cleanup(func() { logTails(t, n, paths...) })
}

func logTails(t testing.TB, n int, paths ...string) {
	if !t.Failed() {
		return
	}
	for _, path := range paths {
		t.Logf("--- tail of %s ---\n%s", path, TailFile(path, n))
	}
}

// Start (re)starts the process. It is an error to start a running process.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is already running as PID %d", p.Name, p.pid)
		}
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== %s: starting %s %s\n", time.Now().Format(time.RFC3339Nano), p.Path, strings.Join(p.Args, " "))
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Stdin = nil
	// Dies with the test binary even if cleanup never runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	p.cmd = cmd
	p.pid = cmd.Process.Pid
	p.done = make(chan struct{})
	p.waitErr = nil
	done := p.done
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// PID is the process ID of the current run (0 if never started).
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// Done is closed when the current run exits.
func (p *Process) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Running reports whether the current run has not exited.
func (p *Process) Running() bool {
	d := p.Done()
	if d == nil {
		return false
	}
	select {
	case <-d:
		return false
	default:
		return true
	}
}

// ExitErr is the result of cmd.Wait once the process has exited.
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// Signal sends sig to exactly the recorded PID.
func (p *Process) Signal(sig syscall.Signal) error {
	if !p.Running() {
		return fmt.Errorf("%s is not running", p.Name)
	}
	return syscall.Kill(p.PID(), sig)
}

// Stop sends SIGTERM to the recorded PID, waits up to StopTimeout, then
// sends SIGKILL and waits up to 5 more seconds. Stopping a process that is
// not running is not an error.
func (p *Process) Stop() error {
	done := p.Done()
	if done == nil || !p.Running() {
		return nil
	}
	pid := p.PID()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(StopTimeout):
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	select {
	case <-done:
		return fmt.Errorf("%s (PID %d) ignored SIGTERM for %v and was killed", p.Name, pid, StopTimeout)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (PID %d) survived SIGKILL for 5s", p.Name, pid)
	}
}

// Log returns the whole log file.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// RSSKiB reads VmRSS of the running process from /proc.
func (p *Process) RSSKiB() (int, error) {
	return ProcStatusKiB(p.PID(), "VmRSS")
}

// ProcStatusKiB reads one "kB" field (VmRSS, VmHWM, ...) of
// /proc/PID/status.
func ProcStatusKiB(pid int, field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			break
		}
		return strconv.Atoi(f[0])
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// OpenFDs counts /proc/PID/fd entries.
func OpenFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// TailFile returns the last n lines of a file (for failure reports).
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Eventually polls cond every 100ms until it returns nil or timeout
// passes, and returns the last error.
func Eventually(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still failing after %v: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ShortTempDir makes a temporary directory with a short path (Unix socket
// paths are limited to 108 bytes and t.TempDir embeds the test's name),
// readable by the unprivileged users servers drop to, removed at cleanup.
func ShortTempDir(t testing.TB, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", "sy-"+prefix+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("SWITCHYARD_E2E_KEEP") == "1" {
			t.Logf("kept %s", d)
			return
		}
		os.RemoveAll(d)
	})
	return d
}

var runCleanup struct {
	sync.Mutex
	fns []func()
}

// RegisterRunCleanup registers f to run once at the end of the whole test
// run (for things shared by all tests, like the built binary).
func RegisterRunCleanup(f func()) {
	runCleanup.Lock()
	defer runCleanup.Unlock()
	runCleanup.fns = append(runCleanup.fns, f)
}

// RunCleanups runs what registerRunCleanup collected, newest first. Call it
// from TestMain after m.Run.
func RunCleanups() {
	runCleanup.Lock()
	fns := runCleanup.fns
	runCleanup.fns = nil
	runCleanup.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// RunBounded runs a command with a deadline and returns its stdout and
// stderr.
func RunBounded(timeout time.Duration, stdin []byte, name string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not finish within %v: %w", filepath.Base(name), timeout, ctx.Err())
	}
	return stdout.String(), stderr.String(), err
}

// LogMark is a position in a log file (Dovecot's, Postfix's); pass it to the Logins* helpers to
// look only at what was logged after it.
type LogMark int64

// MarkOf returns the current end of a log file.
func MarkOf(path string) LogMark {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return LogMark(fi.Size())
}

// LogMatches returns, for every line of the log at path written after mark
// that re matches, the submatches (line first).
func LogMatches(path string, mark LogMark, re *regexp.Regexp) [][]string {
	b, err := os.ReadFile(path)
	if err != nil || int64(mark) > int64(len(b)) {
		return nil
	}
	var out [][]string
	for _, line := range strings.Split(string(b[mark:]), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			m[0] = line
			out = append(out, m)
		}
	}
	return out
}

// LogRecords is one kind of record a server logs: the lines of Path that
// Re matches, each turned into a T by Parse (given LogMatches's match:
// the whole line, then the groups).
type LogRecords[T any] struct {
	Path  string
	Re    *regexp.Regexp
	Parse func(m []string) T
}

// Since returns the records logged after mark, in order.
func (r LogRecords[T]) Since(mark LogMark) []T {
	var out []T
	for _, m := range LogMatches(r.Path, mark, r.Re) {
		out = append(out, r.Parse(m))
	}
	return out
}

// Wait is WaitLogged for the records logged after mark.
func (r LogRecords[T]) Wait(t testing.TB, mark LogMark, match func(T) bool, missing string) T {
	t.Helper()
	return WaitLogged(t, r.Path, func() []T { return r.Since(mark) }, match, missing)
}

// AssertNone gives the log a moment first (servers write it
// asynchronously), then fails with unexpected's message for the first
// record logged after mark that match accepts.
func (r LogRecords[T]) AssertNone(t testing.TB, mark LogMark, match func(T) bool, unexpected func(T) string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	for _, rec := range r.Since(mark) {
		if match(rec) {
			t.Fatal(unexpected(rec))
		}
	}
}

// WaitLogged waits (at most 5 s: servers write their logs
// asynchronously) until records holds one that match accepts, and
// returns it. Else the test fails with missing and the log's tail.
func WaitLogged[T any](t testing.TB, logPath string, records func() []T, match func(T) bool, missing string) T {
	t.Helper()
	var found T
	err := Eventually(5*time.Second, func() error {
		for _, r := range records() {
			if match(r) {
				found = r
				return nil
			}
		}
		return errors.New(missing)
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, TailFile(logPath, 15))
	}
	return found
}
