package stats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testnet"
)

func TestParseStatCPUWithAwkwardName(t *testing.T) {
	stat := []byte("4242 (evil ) name (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 7 0 123 456 789\n")
	got, err := ParseStatCPU(stat)
	if err != nil || got != 3.25 {
		t.Fatalf("cpu = %v, %v; want 3.25", got, err)
	}
	if _, err := ParseStatCPU([]byte("1 (x) S 1 2")); err == nil {
		t.Fatal("short stat accepted")
	}
}

func TestParseStatus(t *testing.T) {
	st := []byte("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1536 kB\nThreads:\t5\n")
	rss, hwm, th := ParseStatus(st)
	if rss != 1536 || hwm != 2048 || th != 5 {
		t.Fatalf("rss %d hwm %d threads %d", rss, hwm, th)
	}
}

func TestSampleSelfSeesCPUAndFDs(t *testing.T) {
	s := &Sampler{PID: os.Getpid()}
	a, err := s.Sample("a")
	if err != nil {
		t.Fatal(err)
	}
	// Burn some CPU (until the kernel has counted 0.15 s of it, at most
	// 10 s of wall time: the machine may be busy) and open descriptors.
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := 0; i < 1_000_000; i++ {
			x++
		}
		if c, err := s.Sample("c"); err == nil && c.CPUSeconds-a.CPUSeconds >= 0.15 {
			break
		}
	}
	var files []*os.File
	for i := 0; i < 10; i++ {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	b, err := s.Sample("b")
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	d := Delta(a, b)
	if d.CPUSeconds < 0.1 || d.CPUPercent <= 0 {
		t.Fatalf("cpu delta %+v after busy loop (%d)", d, x)
	}
	if d.FDDelta < 10 {
		t.Fatalf("fd delta %d after opening 10 files", d.FDDelta)
	}
	if b.RSSKiB <= 0 || b.Threads <= 0 || b.Goroutines != -1 {
		t.Fatalf("sample %+v", b)
	}
	if _, err := (&Sampler{}).Sample("x"); err == nil {
		t.Fatal("zero pid sampled")
	}
}

func TestSampleFakeProcRoot(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "77")
	if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "stat"), []byte("77 (p) S 1 1 1 0 -1 0 0 0 0 0 100 100 0 0 20 0 1 0 1 1 1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "status"), []byte("VmRSS:\t100 kB\nThreads:\t1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "fd", "0"), nil, 0o644)
	s, err := (&Sampler{PID: 77, ProcRoot: root}).Sample("x")
	if err != nil || s.CPUSeconds != 2 || s.RSSKiB != 100 || s.FDs != 1 {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestGoroutinesFromPprof(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "token", http.StatusUnauthorized)
			return
		}
		pprof.Index(w, r)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	s := &Sampler{PID: os.Getpid(), PprofURL: fmt.Sprintf("http://%s/debug/pprof", ln.Addr())}
	if _, err := s.Sample("g"); err == nil {
		t.Fatal("sampled without the token")
	}
	s.PprofToken = "tok"
	smp, err := s.Sample("g")
	if err != nil {
		t.Fatal(err)
	}
	if smp.Goroutines < 2 {
		t.Fatalf("goroutines = %d", smp.Goroutines)
	}
	s.PprofURL = fmt.Sprintf("http://%s/nothing", ln.Addr())
	if _, err := s.Sample("g"); err == nil {
		t.Fatal("bad pprof URL accepted")
	}
}

func TestErrorsAndClassify(t *testing.T) {
	var e Errors
	e.Add("login: no")
	e.Add("connect: refused")
	e.Add("login: no")
	if e.Total() != 3 {
		t.Fatal(e.Total())
	}
	s := e.Sorted()
	if len(s) != 2 || s[0] != (KindCount{"login: no", 2}) {
		t.Fatalf("%v", s)
	}
	// A real refused connection on loopback (a port held, not listening).
	_, err := net.DialTimeout("tcp", testnet.RefusingAddr(t), time.Second)
	cases := map[string]error{
		"refused": err,
		"eof":     fmt.Errorf("read: %w", io.EOF),
		"timeout": context.DeadlineExceeded,
		"reset":   &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)},
		"other":   errors.New("x"),
		"tls":     errors.New("tls: handshake failure"),
	}
	for want, err := range cases {
		if got := Classify(err); got != want {
			t.Errorf("Classify(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestCPUText(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{CPUText(1.234, 56.7, "", 8.91, 1, "op"), "cpu 1.23 s (57% of a core, 8.9 µs/op)"},
		{CPUText(1.234, 56.7, " over the measured phase", 8.91, 0, "op"), "cpu 1.23 s over the measured phase (57% of a core, 9 µs/op)"},
		{CPUText(2, 100, "", 0, 1, "message"), "cpu 2.00 s (100% of a core)"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}
