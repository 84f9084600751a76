// Package testsrv starts real Redis, PostgreSQL and MariaDB servers for the
// router's end-to-end tests: each in the foreground, on a loopback port,
// with its own data directory under a short temporary directory. A server
// is stopped by the PID recorded when it was started, never by name.
//
// None of them can bind port 0 and say which port it got, so each is
// started on a candidate port from the kernel (testnet.CandidatePort; the
// probe is closed before the server starts) and, if it exits saying the
// address is already in use, started again on a new one, a bounded number
// of times (testnet.StartDaemon). A restart (Stop, Start) keeps the port.
//
// Tests call Gate first: they run only with SWITCHYARD_E2E=1, and a missing
// server binary skips the test unless SWITCHYARD_E2E_REQUIRE=1.
package testsrv

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testcert"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// Gate skips t unless SWITCHYARD_E2E=1, and returns the path of each
// binary. A missing binary skips t, or fails it when
// SWITCHYARD_E2E_REQUIRE=1.
func Gate(t testing.TB, binaries ...string) []string {
	t.Helper()
	if os.Getenv("SWITCHYARD_E2E") != "1" {
		t.Skip("needs real servers: set SWITCHYARD_E2E=1")
	}
	paths := make([]string, len(binaries))
	for i, b := range binaries {
		p, err := exec.LookPath(b)
		if err != nil {
			if _, serr := os.Stat(b); serr == nil {
				p, err = b, nil
			}
		}
		if err != nil {
			msg := fmt.Sprintf("%s not found (apt-get install redis-server postgresql mariadb-server)", b)
			if os.Getenv("SWITCHYARD_E2E_REQUIRE") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		paths[i] = p
	}
	return paths
}

// candidatePort picks a server's candidate port; tests may replace it.
var candidatePort = testnet.CandidatePort

// TempDir is a short directory (Unix socket paths are limited to 108 bytes)
// removed at cleanup.
func TempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "sy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// Proc is one server process.
type Proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	// StopSignal is sent by Stop (default SIGTERM; PostgreSQL gets SIGINT,
	// its "fast" shutdown, which does not wait for clients to leave).
	StopSignal syscall.Signal
}

// PID returns the process id recorded at start.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Stop sends StopSignal to the recorded PID and waits (bounded) for the
// process to exit, then SIGKILLs it.
func (p *Proc) Stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	sig := p.StopSignal
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	_ = syscall.Kill(p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
}

// Log returns what the process wrote so far.
func (p *Proc) Log() string { b, _ := os.ReadFile(p.log); return string(b) }

// Start runs argv with output to logPath and waits until the log contains
// ready (bounded by timeout). cred, when set, runs it as that user.
func Start(t testing.TB, logPath, ready string, timeout time.Duration, cred *syscall.Credential, argv ...string) *Proc {
	t.Helper()
	p, err := start(t, logPath, ready, timeout, cred, argv...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// start is Start that returns its failure; one whose server exited
// saying its address was in use wraps testnet.ErrPortTaken.
func start(t testing.TB, logPath, ready string, timeout time.Duration, cred *syscall.Credential, argv ...string) (*Proc, error) {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %v", argv[0], err)
	}
	p := &Proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(p.Stop)
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(logPath)
		if bytes.Contains(b, []byte(ready)) {
			return p, nil
		}
		select {
		case <-p.done:
			b, _ = os.ReadFile(logPath)
			if testnet.AddrInUse(string(b)) {
				return nil, fmt.Errorf("%s exited before it was ready: %w:\n%s", argv[0], testnet.ErrPortTaken, tail(b, 3))
			}
			return nil, fmt.Errorf("%s exited before it was ready:\n%s", argv[0], b)
		default:
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s not ready after %v:\n%s", argv[0], timeout, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the last n lines of a log.
func tail(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, []byte("\n"))
}

func run(t testing.TB, cred *syscall.Credential, timeout time.Duration, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out.String())
		}
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v: no exit after %v\n%s", argv, timeout, out.String())
	}
}

// Redis is a redis-server on loopback that can be stopped and restarted
// on the same port.
type Redis struct {
	Addr string
	server
	port int
	tls  bool
}

// server is what the servers here share: a binary run in a directory of
// its own, that can be stopped and started again.
type server struct {
	t    testing.TB
	bin  string
	dir  string
	n    int // starts so far, numbering the logs
	proc *Proc
	// launch starts the server once on its port (Redis.start, ...).
	launch func() error
}

// firstStart starts the server with launch on candidate ports until one
// holds; at records the port to try.
func (s *server) firstStart(name string, launch func() error, at func(port int)) {
	s.t.Helper()
	s.launch = launch
	testnet.StartDaemon(s.t, name, func() error {
		at(candidatePort(s.t))
		return s.launch()
	})
}

// Start restarts the server on its port.
func (s *server) Start() {
	s.t.Helper()
	if err := s.launch(); err != nil {
		s.t.Fatal(err)
	}
}

// nextLog counts a start and returns the path of its log, dir/<name><n>.log.
func (s *server) nextLog(name string) string {
	s.n++
	return filepath.Join(s.dir, fmt.Sprintf("%s%d.log", name, s.n))
}

// Stop stops the server (its recorded PID).
func (s *server) Stop() { s.proc.Stop() }

// StartRedis starts redis-server without persistence.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin := Gate(t, "redis-server")[0]
	r := &Redis{server: server{t: t, bin: bin, dir: TempDir(t)}}
	r.startFresh()
	return r
}

// StartRedisTLS starts redis-server accepting only TLS on Addr, with a
// fresh self-signed certificate for 127.0.0.1; the returned pool trusts it.
func StartRedisTLS(t testing.TB) (*Redis, *x509.CertPool) {
	t.Helper()
	bin := Gate(t, "redis-server")[0]
	r := &Redis{server: server{t: t, bin: bin, dir: TempDir(t)}, tls: true}
	pool := selfSigned(t, r.dir)
	r.startFresh()
	return r, pool
}

// startFresh starts the server on candidate ports until one holds.
func (r *Redis) startFresh() {
	r.t.Helper()
	r.firstStart("redis-server", r.start, func(port int) {
		r.port = port
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	})
}

func selfSigned(t testing.TB, dir string) *x509.CertPool {
	t.Helper()
	_, certPEM, keyPEM, err := testcert.New("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return pool
}

func (r *Redis) start() error {
	r.t.Helper()
	logPath := r.nextLog("redis")
	port := strconv.Itoa(r.port)
	argv := []string{r.bin, "--port", port, "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"}
	if r.tls {
		argv = append(argv, "--port", "0", "--tls-port", port,
			"--tls-cert-file", filepath.Join(r.dir, "cert.pem"), "--tls-key-file", filepath.Join(r.dir, "key.pem"),
			"--tls-auth-clients", "no")
	}
	p, err := start(r.t, logPath, "Ready to accept connections", 20*time.Second, nil, argv...)
	r.proc = p
	return err
}

// logOf returns the log of the server's nth start.
func (r *Redis) logOf(n int) string {
	b, _ := os.ReadFile(filepath.Join(r.dir, fmt.Sprintf("redis%d.log", n)))
	return string(b)
}

// Postgres is a PostgreSQL server run as the postgres user, with trust
// authentication for the superuser "postgres".
type Postgres struct {
	sqlServer // DSN postgres://postgres@127.0.0.1:port/postgres?sslmode=disable
	cred      *syscall.Credential
}

// sqlServer is a database server that tests reach by its DSN.
type sqlServer struct {
	DSN  string
	Port int
	server
}

// firstStartDSN is firstStart keeping the port, and the DSN made with
// dsn (a format that takes the port).
func (s *sqlServer) firstStartDSN(name, dsn string, launch func() error) {
	s.t.Helper()
	s.firstStart(name, launch, func(port int) { s.Port, s.DSN = port, fmt.Sprintf(dsn, port) })
}

const pgBin = "/usr/lib/postgresql/15/bin/"

// StartPostgres runs initdb and postgres. PostgreSQL refuses to run as
// root, so when the test runs as root both run as the "postgres" user
// (skipping the test if there is none).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bins := Gate(t, pgBin+"initdb", pgBin+"postgres")
	p := &Postgres{sqlServer: sqlServer{server: server{t: t, bin: bins[1], dir: TempDir(t)}}}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			msg := "running as root and there is no postgres user to run PostgreSQL as"
			if os.Getenv("SWITCHYARD_E2E_REQUIRE") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(p.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p.dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	run(t, p.cred, 60*time.Second, bins[0], "-D", filepath.Join(p.dir, "data"), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C")
	p.firstStartDSN("postgres", "postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.start)
	return p
}

func (p *Postgres) start() error {
	p.t.Helper()
	proc, err := start(p.t, p.nextLog("pg"), "database system is ready to accept connections", 30*time.Second, p.cred,
		p.bin, "-D", filepath.Join(p.dir, "data"), "-p", strconv.Itoa(p.Port), "-k", p.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	if proc != nil {
		proc.StopSignal = syscall.SIGINT
	}
	p.proc = proc
	return err
}

// MariaDB is a mariadbd (or mysqld) with grant tables skipped: any user
// may connect without a password.
type MariaDB struct {
	sqlServer // DSN mysql://root@127.0.0.1:port/test
}

// StartMariaDB initializes a data directory and starts the server.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	bin := "mariadbd"
	if _, err := exec.LookPath(bin); err != nil {
		if _, err := exec.LookPath("/usr/sbin/mariadbd"); err == nil {
			bin = "/usr/sbin/mariadbd"
		} else {
			bin = "/usr/sbin/mysqld"
		}
	}
	bins := Gate(t, "mysql_install_db", bin)
	m := &MariaDB{sqlServer{server: server{t: t, bin: bins[1], dir: TempDir(t)}}}
	run(t, nil, 120*time.Second, bins[0], "--no-defaults", "--datadir="+filepath.Join(m.dir, "data"), "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if err := os.MkdirAll(filepath.Join(m.dir, "data", "test"), 0o755); err != nil {
		t.Fatal(err)
	}
	m.firstStartDSN("mariadbd", "mysql://root@127.0.0.1:%d/test", m.start)
	return m
}

func (m *MariaDB) start() error {
	m.t.Helper()
	var err error
	m.proc, err = start(m.t, m.nextLog("my"), "ready for connections", 60*time.Second, nil,
		m.bin, "--no-defaults", "--datadir="+filepath.Join(m.dir, "data"), "--user=root",
		"--port="+strconv.Itoa(m.Port), "--bind-address=127.0.0.1", "--socket="+filepath.Join(m.dir, "my.sock"),
		"--pid-file="+filepath.Join(m.dir, "my.pid"), "--skip-grant-tables", "--skip-name-resolve",
		"--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--skip-log-bin")
	return err
}
