package main

import (
	"os"
	"path/filepath"
	"testing"
)

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
[destination.old]
host = "127.0.0.1"
allow_plaintext_auth = true
[destination.old.protocol.imap]
port = 143
tls = "plain"
[destination.new]
host = "127.0.0.1"
allow_plaintext_auth = true
[destination.new.protocol.imap]
port = 1143
tls = "plain"
[routing]
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
