package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

var update = flag.Bool("update", false, "rewrite testdata/cli/*.golden from the output")

// cli runs the command with its own output and environment.
func cli(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &command{stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	code = c.run(context.Background(), args)
	return code, out.String(), errb.String()
}

// golden compares got (with dir written $DIR and the Go version $GO)
// with testdata/cli/name.golden.
func golden(t *testing.T, name, got, dir string) {
	t.Helper()
	if dir != "" {
		got = strings.ReplaceAll(got, dir, "$DIR")
	}
	got = strings.ReplaceAll(got, runtime.Version(), "$GO")
	path := filepath.Join("testdata", "cli", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// TestCommandLineGolden: what an operator sees for the usual mistakes and
// questions, and the exit status: 2 for a wrong command line, 1 for a
// configuration that cannot serve, 0 otherwise.
func TestCommandLineGolden(t *testing.T) {
	cases := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stream string // "stdout" or "stderr"
	}{
		{"unknown-flag", nil, []string{"--confg", "x.toml"}, 2, "stderr"},
		{"bad-number", nil, []string{"--max-connections", "abc"}, 2, "stderr"},
		{"two-files", nil, []string{"a.toml", "b.toml"}, 2, "stderr"},
		{"two-configs", nil, []string{"--config", "a.toml", "b.toml"}, 2, "stderr"},
		{"bad-log-format", nil, []string{"--log-format", "xml"}, 2, "stderr"},
		{"version-flag", nil, []string{"--version"}, 0, "stdout"},
		{"version-command", nil, []string{"version"}, 0, "stdout"},
		{"no-configuration", nil, nil, 1, "stderr"},
		{"missing-file", nil, []string{"/nonexistent/switchyard.toml"}, 1, "stderr"},
		{"missing-proxy-config", map[string]string{"PROXY_CONFIG": "/nonexistent/proxy.toml"}, nil, 1, "stderr"},
		{"help", nil, []string{"--help"}, 0, "stdout"},
		{"completion-zsh", nil, []string{"completion", "zsh"}, 2, "stderr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, tc.env, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stdout %q, stderr %q)", code, tc.code, stdout, stderr)
			}
			got, other := stdout, stderr
			if tc.stream == "stderr" {
				got, other = stderr, stdout
			}
			if other != "" {
				t.Errorf("unexpected output on the other stream: %q", other)
			}
			golden(t, tc.name, got, "")
		})
	}
}

// TestPrintConfig: the effective configuration, file then flags and
// environment, with every secret masked; it reads back as the same
// configuration.
func TestPrintConfig(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := cli(t, nil, "init", "--admin-bind", "127.0.0.1:9443", dir)
	if code != 0 {
		t.Fatalf("init: %d %s", code, stderr)
	}
	file := filepath.Join(dir, "switchyard.toml")
	text, _ := os.ReadFile(file)
	secret := "inline-secret-inline-secret-inline-secret"
	extra := "\n[metrics]\nbind = \"127.0.0.1:9090\"\ntoken = \"metrics-secret-123\"\n"
	if err := os.WriteFile(file, append(text, extra...), 0o640); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PROXY_ADMIN_TOKEN": secret, "SWITCHYARD_LOG_LEVEL": "debug"}
	code, stdout, stderr := cli(t, env, "--print-config", "--set", "server.hostname=mail.example.com", file)
	if code != 0 {
		t.Fatalf("--print-config: %d %s", code, stderr)
	}
	for _, s := range []string{secret, "metrics-secret-123"} {
		if strings.Contains(stdout, s) {
			t.Fatalf("a secret is printed: %s", s)
		}
	}
	golden(t, "print-config", stdout, dir)
	// What was printed is a configuration that validates as it is.
	printed := filepath.Join(dir, "printed.toml")
	if err := os.WriteFile(printed, []byte(strings.ReplaceAll(stdout, "'xxxxx'", "'"+strings.Repeat("p", 40)+"'")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := cli(t, nil, "--check-config", printed); code != 0 {
		t.Fatalf("the printed configuration does not validate: %s", stderr)
	}
}

// TestConfigFromReferenceEnvironment: a file given as FILE or in
// $PROXY_CONFIG, as the reference proxy is started.
func TestConfigFromReferenceEnvironment(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := cli(t, nil, "init", dir); code != 0 {
		t.Fatal(stderr)
	}
	file := filepath.Join(dir, "switchyard.toml")
	for name, run := range map[string]func() (int, string, string){
		"FILE":          func() (int, string, string) { return cli(t, nil, "--check-config", file) },
		"$PROXY_CONFIG": func() (int, string, string) { return cli(t, map[string]string{"PROXY_CONFIG": file}, "--check-config") },
		"$SWITCHYARD_CONFIG": func() (int, string, string) {
			return cli(t, map[string]string{"SWITCHYARD_CONFIG": file}, "--check-config")
		},
		"--config and FILE": func() (int, string, string) { return cli(t, nil, "--check-config", "--config", file, file) },
	} {
		if code, stdout, stderr := run(); code != 0 || stdout != "configuration is valid\n" {
			t.Errorf("%s: %d %q %q", name, code, stdout, stderr)
		}
	}
}

// TestInit: the starter files, their modes, a second init refused, and
// --init-dir writing them on a first start when the file is missing.
func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc")
	code, stdout, stderr := cli(t, nil, "init", dir)
	if code != 0 || !strings.Contains(stdout, "token      "+filepath.Join(dir, "admin.token")) {
		t.Fatalf("init: %d %q %q", code, stdout, stderr)
	}
	for name, mode := range map[string]os.FileMode{"admin.token": 0o600, "tls/admin.key": 0o600, "tls/admin.crt": 0o644, "switchyard.toml": 0o640, "mappings.tsv": 0o640} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %v", name, fi.Mode(), err, mode)
		}
	}
	token, _ := os.ReadFile(filepath.Join(dir, "admin.token"))
	if len(strings.TrimSpace(string(token))) != 64 {
		t.Errorf("token %q", token)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "switchyard.toml"))
	if code, _, stderr := cli(t, nil, "init", dir); code != 1 || !strings.Contains(stderr, "exists: not overwriting it") {
		t.Fatalf("second init: %d %s", code, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "switchyard.toml")); !bytes.Equal(before, after) {
		t.Fatal("a refused init changed the file")
	}
	if code, _, _ := cli(t, nil, "init"); code != 2 {
		t.Fatalf("init without DIR: %d", code)
	}
	// A container's first start: the configured file does not exist.
	state := filepath.Join(t.TempDir(), "state")
	env := map[string]string{"SWITCHYARD_CONFIG": "/nonexistent/switchyard.toml", "SWITCHYARD_INIT_DIR": state, "SWITCHYARD_INIT_ADMIN_BIND": "0.0.0.0:9443"}
	code, stdout, stderr = cli(t, env, "--check-config")
	if code != 0 || stdout != "configuration is valid\n" || !strings.Contains(stderr, "wrote a starter one to "+filepath.Join(state, "switchyard.toml")) {
		t.Fatalf("first start: %d %q %q", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(state, "switchyard.toml")); !strings.Contains(string(b), `bind = "0.0.0.0:9443"`) {
		t.Fatalf("starter file: %s", b)
	}
	// The second start uses what the first wrote.
	if code, _, stderr := cli(t, env, "--check-config"); code != 0 || stderr != "" {
		t.Fatalf("second start: %d %q", code, stderr)
	}
}

// TestCompletion lists every flag.
func TestCompletion(t *testing.T) {
	code, stdout, _ := cli(t, nil, "completion", "bash")
	if code != 0 {
		t.Fatal(code)
	}
	c := &command{getenv: func(string) string { return "" }}
	c.flagSet().fs.VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(stdout, "--"+f.Name+" ") && !strings.Contains(stdout, "--"+f.Name+"\"") {
			t.Errorf("--%s is not completed", f.Name)
		}
	})
}

// TestAdminTokenFromEnvironment: with a token file in the configuration
// and $PROXY_ADMIN_TOKEN set, the environment's token is the one the admin
// API takes, as the reference proxy documents (environment, then file,
// then inline), and the file's is refused.
func TestAdminTokenFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := cli(t, nil, "init", "--admin-bind", "127.0.0.1:0", dir); code != 0 {
		t.Fatal(stderr)
	}
	fileToken, _ := os.ReadFile(filepath.Join(dir, "admin.token"))
	envToken := strings.Repeat("e", 40)
	t.Setenv("PROXY_ADMIN_TOKEN", envToken)
	ready := filepath.Join(dir, "ready.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{filepath.Join(dir, "switchyard.toml"), "--ready-file", ready, "--log-level", "error"})
	}()
	doc := waitReady(t, ready, done)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	status := func(token string) int {
		req, _ := http.NewRequest("GET", "https://"+doc.Admin+"/stats", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(envToken); got != 200 {
		t.Fatalf("the environment's token: %d", got)
	}
	if got := status(strings.TrimSpace(string(fileToken))); got != 401 {
		t.Fatalf("the file's token while the environment sets one: %d", got)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// waitReady waits for the --ready-file.
func waitReady(t *testing.T, ready string, done chan int) readyDoc {
	t.Helper()
	var doc readyDoc
	for deadline := time.Now().Add(15 * time.Second); ; {
		if b, err := os.ReadFile(ready); err == nil {
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("ready file %q: %v", b, err)
			}
			return doc
		}
		select {
		case code := <-done:
			t.Fatalf("switchyard exited %d before it was ready", code)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no ready file")
		}
	}
}

// Durations in the log are seconds, in text and JSON alike.
func TestLogDurationsInSeconds(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: secondsAttr}))
	log.Info("login", "duration", 1500*time.Millisecond)
	if !strings.Contains(b.String(), `"duration":1.5`) {
		t.Fatalf("json: %s", b.String())
	}
	b.Reset()
	log = slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: secondsAttr}))
	log.Info("login", "duration", 12500*time.Microsecond)
	if !strings.Contains(b.String(), "duration=0.0125") {
		t.Fatalf("text: %s", b.String())
	}
}

// TestManPage: the manual page (deploy/man/switchyard.8, installed by the
// package) documents every flag and every init flag.
func TestManPage(t *testing.T) {
	b, err := os.ReadFile("../../deploy/man/switchyard.8")
	if err != nil {
		t.Fatal(err)
	}
	man := string(b)
	has := func(name string) bool { return strings.Contains(man, `\-\-`+strings.ReplaceAll(name, "-", `\-`)) }
	c := &command{getenv: func(string) string { return "" }}
	c.flagSet().fs.VisitAll(func(f *pflag.Flag) {
		if !has(f.Name) {
			t.Errorf("the manual page does not document --%s", f.Name)
		}
	})
	for _, f := range []string{"admin-bind", "state-dir", "force"} {
		if !has(f) {
			t.Errorf("the manual page does not document init --%s", f)
		}
	}
}

// TestNewerReleaseKeys: a file using every key of the reference's newer
// releases passes --check-config (each is implemented; see
// config/README.md and the tests of internal/app for what they do).
func TestNewerReleaseKeys(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := cli(t, nil, "init", "--admin-bind", "127.0.0.1:0", dir); code != 0 {
		t.Fatal(stderr)
	}
	file := filepath.Join(dir, "switchyard.toml")
	text, _ := os.ReadFile(file)
	text = []byte(strings.Replace(string(text), "[server]\n", "[server]\nhost_down_min_clients = 2\nbackend_connect_retries = 2\n", 1))
	text = []byte(strings.Replace(string(text), "tls = \"implicit\"\n", "tls = \"implicit\"\nconfig_write = false\n", 1))
	extra := `
[admin.allow]
listener_ports = [993]
destination_ports = [993]
destination_hosts = ["*.internal.example.com", "10.0.0.0/8"]

[destination.backend]
host = "mail.internal.example.com"
dns_cache_ttl = "5m"
source_ips = ["127.0.0.1"]
[destination.backend.protocol.imap]
port = 993
tls = "implicit"

[routing]
default_destination = "backend"

[mapping]
source = "sqlite"
[mapping.sql]
url = "sqlite://` + filepath.Join(dir, "map.db") + `"
query = "SELECT node FROM account_nodes WHERE identifier = ?"
list_query = "SELECT identifier, node FROM account_nodes WHERE identifier > ? AND identifier LIKE ? ESCAPE '!' ORDER BY identifier LIMIT ?"
count_query = "SELECT node, COUNT(*) FROM account_nodes GROUP BY node"
`
	if err := os.WriteFile(file, append(text, extra...), 0o640); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := cli(t, nil, "--check-config", file); code != 0 || stdout != "configuration is valid\n" {
		t.Fatalf("--check-config: %d %q %q", code, stdout, stderr)
	}
}
