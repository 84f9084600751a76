package main

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/internal/testcert"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// adminLike starts an HTTPS server on 127.0.0.1 with a self-signed
// certificate (as the admin API usually has) answering /healthz with
// status, and returns its port.
func adminLike(t *testing.T, status int) string {
	t.Helper()
	cert, _, _, err := testcert.New("switchyard.example")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("ok\n"))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func check(t *testing.T, args []string, kv map[string]string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, env(kv), &out, &errb)
	return code, out.String() + errb.String()
}

func TestHealthy(t *testing.T) {
	port := adminLike(t, http.StatusOK)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag loopback", []string{"--addr", "127.0.0.1:" + port}, nil},
		{"flag unspecified", []string{"--addr", "0.0.0.0:" + port}, nil},
		{"flag v6 unspecified falls back to v4", []string{"--addr", "[::]:" + port}, nil},
		{"flag localhost", []string{"--addr", "localhost:" + port}, nil},
		{"env healthcheck addr", nil, map[string]string{"SWITCHYARD_HEALTHCHECK_ADDR": "127.0.0.1:" + port}},
		{"env admin bind", nil, map[string]string{"SWITCHYARD_ADMIN_BIND": "0.0.0.0:" + port}},
		{"flag wins over env", []string{"--addr", "127.0.0.1:" + port}, map[string]string{"SWITCHYARD_ADMIN_BIND": "127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := check(t, tc.args, tc.env); code != 0 {
				t.Fatalf("exit %d, want 0:\n%s", code, out)
			}
		})
	}
}

func TestUnhealthy(t *testing.T) {
	bad := adminLike(t, http.StatusServiceUnavailable)
	// A port nobody listens on, held for the test.
	closed := testnet.RefusingAddr(t)
	// A plaintext HTTP server: the check speaks TLS only.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer plain.Close()
	good := adminLike(t, http.StatusOK)

	for _, tc := range []struct {
		name, want string
		args       []string
		env        map[string]string
	}{
		{"503", "503", []string{"--addr", "127.0.0.1:" + bad}, nil},
		{"404 path", "404", []string{"--addr", "127.0.0.1:" + good, "--path", "/readyz"}, nil},
		{"refused", "refused", []string{"--addr", closed}, nil},
		{"plain http", "", []string{"--addr", plain.Listener.Addr().String()}, nil},
		{"no address", "no admin address", nil, nil},
		{"no port", "missing port", []string{"--addr", "127.0.0.1"}, nil},
		{"bad path", "must start with /", []string{"--addr", "127.0.0.1:" + good, "--path", "healthz"}, nil},
		{"extra argument", "unexpected argument", []string{"--addr", "127.0.0.1:" + good, "now"}, nil},
		{"unknown flag", "unknown flag", []string{"--port", "9443"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := check(t, tc.args, tc.env)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("output %q lacks %q", out, tc.want)
			}
		})
	}
}

// Which addresses a bind address is probed on, and whether the probe skips
// certificate verification (loopback only). A non-loopback probe cannot be
// exercised end to end without a second interface.
func TestProbeTargets(t *testing.T) {
	for _, tc := range []struct {
		bind     string
		targets  string
		loopback bool
	}{
		{"0.0.0.0:9443", "127.0.0.1:9443", true},
		{":9443", "127.0.0.1:9443", true},
		{"[::]:9443", "[::1]:9443 127.0.0.1:9443", true},
		{"127.0.0.1:9443", "127.0.0.1:9443", true},
		{"[::1]:9443", "[::1]:9443", true},
		{"localhost:9443", "127.0.0.1:9443 [::1]:9443", true},
		{"10.0.0.5:9443", "10.0.0.5:9443", false},
		{"admin.example.com:9443", "admin.example.com:9443", false},
	} {
		got, lo, err := probeTargets(tc.bind)
		if err != nil {
			t.Errorf("%s: %v", tc.bind, err)
			continue
		}
		if strings.Join(got, " ") != tc.targets || lo != tc.loopback {
			t.Errorf("%s: got %v loopback=%v, want %s loopback=%v", tc.bind, got, lo, tc.targets, tc.loopback)
		}
	}
	if _, _, err := probeTargets("10.0.0.5:0"); err == nil {
		t.Error("port 0 accepted")
	}
}

// The address comes from admin.bind of switchyard's own file, and
// $SWITCHYARD_SET is applied as switchyard applies it.
func TestAddressFromConfig(t *testing.T) {
	port := adminLike(t, http.StatusOK)
	dir := t.TempDir()
	file := filepath.Join(dir, "switchyard.toml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("[admin]\nbind = \"0.0.0.0:" + port + "\"\n")
	if code, out := check(t, []string{"--config", file}, nil); code != 0 {
		t.Fatalf("--config: exit %d:\n%s", code, out)
	}
	if code, out := check(t, nil, map[string]string{"SWITCHYARD_CONFIG": file}); code != 0 {
		t.Fatalf("$SWITCHYARD_CONFIG: exit %d:\n%s", code, out)
	}

	write("[admin]\nbind = \"127.0.0.1:1\"\n")
	if code, out := check(t, []string{"--config", file}, map[string]string{"SWITCHYARD_SET": `admin.bind="127.0.0.1:` + port + `"`}); code != 0 {
		t.Fatalf("$SWITCHYARD_SET over the file: exit %d:\n%s", code, out)
	}

	write("[server]\nhostname = \"mail.example.com\"\n")
	if code, out := check(t, []string{"--config", file}, nil); code != 1 || !strings.Contains(out, "no [admin] bind") {
		t.Fatalf("file without [admin]: exit %d:\n%s", code, out)
	}
	write("[admin]\nbnid = \"x\"\n")
	if code, out := check(t, []string{"--config", file}, nil); code != 1 || !strings.Contains(out, "bnid") {
		t.Fatalf("broken file: exit %d:\n%s", code, out)
	}
}

// The built binary, as the container's HEALTHCHECK runs it: static
// (CGO_ENABLED=0), exit status 0 against a healthy server and 1 otherwise.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "switchyard-healthcheck")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	good := adminLike(t, http.StatusOK)
	bad := adminLike(t, http.StatusInternalServerError)
	for _, tc := range []struct {
		port string
		want int
	}{{good, 0}, {bad, 1}} {
		cmd := exec.Command(bin, "--quiet")
		cmd.Env = []string{"SWITCHYARD_ADMIN_BIND=0.0.0.0:" + tc.port}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.want {
			t.Errorf("port %s: exit %d, want %d:\n%s", tc.port, code, tc.want, out)
		}
	}
}
