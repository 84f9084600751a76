package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testcert"
)

// plainIMAPDest is [destination.NAME] on 127.0.0.1, plaintext logins
// allowed, with IMAP on port.
func plainIMAPDest(name string, port int) string {
	return fmt.Sprintf("[destination.%s]\nhost = \"127.0.0.1\"\nallow_plaintext_auth = true\n[destination.%s.protocol.imap]\nport = %d\ntls = \"plain\"\n", name, name, port)
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	mapping := filepath.Join(dir, "map.txt")
	if err := os.WriteFile(mapping, []byte("alice@example.com new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := `
[listener.imap]
protocol = "imap"
bind = ["127.0.0.1:10143"]
tls = "plain"
` + plainIMAPDest("old", 143) + plainIMAPDest("new", 1143) + `[routing]
default_destination = "old"
[mapping]
source = "file"
[mapping.file]
path = "` + mapping + `"
`
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if code := run([]string{"--check-config", "--config", write("good.toml", good)}); code != 0 {
		t.Fatalf("valid file: exit %d", code)
	}
	// An unknown key, a dangling default destination, a mapping to an
	// undeclared destination: each must fail.
	bad := map[string]string{
		"unknown-key.toml": good + "\n[server]\nhostnmae = \"x\"\n",
		"dangling.toml":    replace(good, `default_destination = "old"`, `default_destination = "nowhere"`),
	}
	bad["bad-mapping.toml"] = replace(good, `[destination.new]`, `[destination.neu]`)
	bad["bad-mapping.toml"] = replace(bad["bad-mapping.toml"], `[destination.new.protocol.imap]`, `[destination.neu.protocol.imap]`)
	for name, text := range bad {
		if code := run([]string{"--check-config", "--config", write(name, text)}); code == 0 {
			t.Errorf("%s: --check-config accepted it", name)
		}
	}
	// Flags alone make a deployment.
	args := []string{"--check-config", "--listen", "imap=imap@127.0.0.1:10143", "--destination", "old=127.0.0.1",
		"--destination-port", "old:imap=143", "--default-destination", "old", "--set", "destination.old.allow_plaintext_auth=true"}
	if code := run(args); code != 0 {
		t.Fatalf("flags-only deployment: exit %d", code)
	}
}

// TestPprofNeedsTheAdminAPI: --pprof only adds /debug/pprof/ to the admin
// API (behind its token); without [admin] it is an error, and the old
// form with an address is refused with a pointer to the new one.
func TestPprofNeedsTheAdminAPI(t *testing.T) {
	args := []string{"--check-config", "--listen", "imap=imap@127.0.0.1:10143", "--destination", "old=127.0.0.1",
		"--destination-port", "old:imap=143", "--default-destination", "old", "--set", "destination.old.allow_plaintext_auth=true"}
	if code := run(append([]string{"--pprof"}, args...)); code == 0 {
		t.Fatal("--pprof without [admin] accepted")
	}
	if code := run(append([]string{"--pprof", "127.0.0.1:6060"}, args...)); code == 0 {
		t.Fatal("--pprof with an address accepted")
	}
	t.Setenv("SWITCHYARD_PPROF", "127.0.0.1:6060")
	if code := run(args); code == 0 {
		t.Fatal("SWITCHYARD_PPROF with an address accepted")
	}
	t.Setenv("SWITCHYARD_PPROF", "false")
	if code := run(args); code != 0 {
		t.Fatalf("SWITCHYARD_PPROF=false: exit %d", code)
	}
}

func replace(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	panic("not found: " + old)
}

// --ready-file: with port 0 everywhere, the file says where each listener
// and the admin API listen, those addresses serve, and the file is gone
// once switchyard has stopped.
func TestReadyFile(t *testing.T) {
	dir := t.TempDir()
	cert, key, err := testcert.WriteFiles(dir, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "switchyard.toml")
	text := `
[server]
shutdown_grace = "1s"
[tls.certificate.main]
cert = "` + cert + `"
key = "` + key + `"
default = true
[listener.imap]
protocol = "imap"
bind = ["127.0.0.1:0", "127.0.0.1:0"]
tls = "plain"
[listener.imaps]
protocol = "imap"
bind = ["127.0.0.1:0"]
tls = "implicit"
` + plainIMAPDest("old", 1) + `[routing]
default_destination = "old"
[admin]
bind = "127.0.0.1:0"
`
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SWITCHYARD_ADMIN_TOKEN", strings.Repeat("t", 40))
	ready := filepath.Join(dir, "ready.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{"--config", cfg, "--ready-file", ready, "--log-level", "warn"})
	}()

	doc := waitReady(t, ready, done)
	if len(doc.Listeners["imap"]) != 2 || len(doc.Listeners["imaps"]) != 1 || doc.Admin == "" {
		t.Fatalf("ready file: %+v", doc)
	}
	for _, addr := range doc.Listeners["imap"] {
		if strings.HasSuffix(addr, ":0") {
			t.Fatalf("unbound address %s in %+v", addr, doc)
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		g, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(g, "* OK") {
			t.Fatalf("greeting on %s: %q %v", addr, g, err)
		}
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + doc.Admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin /healthz: %s", resp.Status)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("switchyard did not stop")
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Fatalf("ready file left behind: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".ready.json.*")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// A ready file that cannot be written stops switchyard with an error:
// whoever waits for it would wait forever.
func TestReadyFileUnwritable(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--listen", "imap=imap@127.0.0.1:0", "--destination", "old=127.0.0.1",
		"--destination-port", "old:imap=143", "--default-destination", "old", "--set", "destination.old.allow_plaintext_auth=true",
		"--log-level", "error", "--ready-file", filepath.Join(dir, "no", "such", "dir", "ready.json")}
	done := make(chan int, 1)
	go func() { done <- runContext(context.Background(), args) }()
	select {
	case code := <-done:
		if code == 0 {
			t.Fatal("exit 0")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("switchyard kept running without its ready file")
	}
}
