package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/config/overrides"
	"github.com/switchyard-mail/switchyard/internal/testcert"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// bins holds the binaries built once by TestMain, as the Dockerfile builds
// them: CGO_ENABLED=0, -trimpath, -ldflags "-s -w".
var bins struct{ switchyard, healthcheck string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchyard-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", dir+string(os.PathSeparator),
		"../cmd/switchyard", "../cmd/switchyard-healthcheck")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	bins.switchyard = filepath.Join(dir, "switchyard")
	bins.healthcheck = filepath.Join(dir, "switchyard-healthcheck")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the test's environment without anything that configures
// switchyard, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, overrides.EnvPrefix) && !strings.HasPrefix(kv, "PROXY_ADMIN_TOKEN=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

var etcPath = regexp.MustCompile(`"/(etc|var/lib)/switchyard/[^"]+"`)

// localize rewrites every "/etc/switchyard/..." and
// "/var/lib/switchyard/..." path of an example into dir and creates the
// file it names: PEM files whose name says "key" get a private key, other
// PEM files the matching certificate, *.token files a token, anything else
// (mapping files) is left empty.
func localize(t *testing.T, text, dir string, certPEM, keyPEM []byte) string {
	t.Helper()
	return etcPath.ReplaceAllStringFunc(text, func(q string) string {
		rel := strings.TrimPrefix(strings.Trim(q, `"`), "/")
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var data []byte
		base := strings.ToLower(filepath.Base(p))
		switch {
		case strings.HasSuffix(base, ".pem") && strings.Contains(base, "key"):
			data = keyPEM
		case strings.HasSuffix(base, ".pem") || strings.HasSuffix(base, ".crt"):
			data = certPEM
		case strings.HasSuffix(base, ".token"):
			data = []byte(strings.Repeat("t0ken", 10) + "\n")
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%q", p)
	})
}

// Every example configuration passes `switchyard --check-config`, except
// for features this build does not implement yet ("not supported yet"),
// which the test lists. Any other problem fails the test.
func TestExamplesCheckConfig(t *testing.T) {
	files, err := filepath.Glob("../examples/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	_, certPEM, keyPEM, err := testcert.New("mail.example.com")
	if err != nil {
		t.Fatal(err)
	}
	missing := map[string][]string{} // problem → examples
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			text := localize(t, string(src), dir, certPEM, keyPEM)
			if strings.Contains(text, `"/etc/switchyard`) || strings.Contains(text, `"/var/lib/switchyard`) {
				t.Fatalf("a path into /etc/switchyard or /var/lib/switchyard was not rewritten")
			}
			cfgFile := filepath.Join(dir, name)
			if err := os.WriteFile(cfgFile, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bins.switchyard, "--check-config", "--config", cfgFile)
			cmd.Env = cleanEnv()
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			code := exitCode(cmd.Run())
			if code == 0 {
				t.Logf("valid: %s", strings.TrimSpace(stdout.String()))
				return
			}
			var other []string
			sc := bufio.NewScanner(&stderr)
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				switch {
				case line == "" || strings.HasPrefix(line, "switchyard: invalid configuration"):
				case strings.Contains(line, "not supported yet"):
					// Drop the temporary file name: "x.toml:12: key: msg".
					if _, rest, ok := strings.Cut(line, name+":"); ok {
						if _, rest2, ok := strings.Cut(rest, ": "); ok {
							line = rest2
						}
					}
					missing[line] = append(missing[line], name)
				default:
					other = append(other, line)
				}
			}
			if len(other) > 0 || code != 1 {
				t.Fatalf("exit %d; problems other than missing features:\n  %s\nfull output:\n%s",
					code, strings.Join(other, "\n  "), stderr.String())
			}
		})
	}
	if len(missing) > 0 {
		var lines []string
		for p, ex := range missing {
			lines = append(lines, fmt.Sprintf("  %s  (%s)", p, strings.Join(ex, ", ")))
		}
		sort.Strings(lines)
		t.Logf("features the examples use that this build does not implement yet:\n%s", strings.Join(lines, "\n"))
	}
}

// The container's HEALTHCHECK, end to end: switchyard with an [admin]
// section, and switchyard-healthcheck finding the admin port through
// $SWITCHYARD_CONFIG as it does in the image. Healthy once switchyard says
// it is ready, unhealthy once it has stopped on SIGTERM.
//
// switchyard binds port 0 and reports the ports it got in its ready file
// ($SWITCHYARD_READY_FILE); the healthcheck reads a copy of the
// configuration that names the admin port switchyard got, as an image's
// file names its fixed port.
func TestHealthcheckAgainstSwitchyard(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, err := testcert.WriteFiles(dir, "mail.example.com", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cfgText := func(adminBind string) string {
		return fmt.Sprintf(`[server]
hostname = "mail.example.com"
shutdown_grace = "2s"

[tls.certificate.default]
cert = %q
key = %q
default = true

[listener.imap]
protocol = "imap"
bind = ["127.0.0.1:0"]
tls = "starttls"

[destination.be]
host = "127.0.0.1"
allow_plaintext_auth = true
forwarding = "none"
[destination.be.protocol.imap]
port = 1
tls = "plain"

[routing]
default_destination = "be"

[admin]
bind = %q
`, certFile, keyFile, adminBind)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	token := "SWITCHYARD_ADMIN_TOKEN=" + strings.Repeat("s3cret", 8)
	health := func(cfgFile string) (int, string) {
		cmd := exec.Command(bins.healthcheck, "--timeout", "2s")
		cmd.Env = cleanEnv("SWITCHYARD_CONFIG="+cfgFile, token)
		out, err := cmd.CombinedOutput()
		return exitCode(err), string(out)
	}
	_, refused, _ := net.SplitHostPort(testnet.RefusingAddr(t))
	if code, out := health(write("before.toml", cfgText("0.0.0.0:"+refused))); code != 1 {
		t.Fatalf("before start: exit %d, want 1:\n%s", code, out)
	}

	ready := filepath.Join(dir, "ready.json")
	sy := exec.Command(bins.switchyard)
	sy.Env = cleanEnv("SWITCHYARD_CONFIG="+write("switchyard.toml", cfgText("0.0.0.0:0")), token, "SWITCHYARD_READY_FILE="+ready)
	var logs bytes.Buffer
	sy.Stdout, sy.Stderr = &logs, &logs
	if err := sy.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sy.Wait() }()
	defer func() {
		if sy.ProcessState == nil {
			_ = sy.Process.Kill()
			<-done
		}
	}()

	var doc struct {
		Admin string `json:"admin"`
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		if b, err := os.ReadFile(ready); err == nil {
			if err := json.Unmarshal(b, &doc); err != nil || doc.Admin == "" {
				t.Fatalf("ready file %q: %v", b, err)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("switchyard exited (%v) before it was ready:\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file after 15s:\n%s", logs.String())
		}
	}
	_, adminPort, err := net.SplitHostPort(doc.Admin)
	if err != nil {
		t.Fatal(err)
	}
	running := write("running.toml", cfgText("0.0.0.0:"+adminPort))
	if code, out := health(running); code != 0 {
		t.Fatalf("while ready: exit %d, want 0:\n%s\nswitchyard:\n%s", code, out, logs.String())
	}

	if err := sy.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("switchyard after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("switchyard did not stop within 10s of SIGTERM:\n%s", logs.String())
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Fatalf("ready file still there after exit: %v", err)
	}
	if code, out := health(running); code != 1 {
		t.Fatalf("after stop: exit %d, want 1:\n%s", code, out)
	}
}

// unitValue returns the value of key in the systemd unit text (last one
// wins, as in systemd).
func unitValue(unit, key string) string {
	var v string
	for _, line := range strings.Split(unit, "\n") {
		if k, val, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == key {
			v = val
		}
	}
	return v
}

// The systemd unit, its sysusers.d and tmpfiles.d snippets, the examples
// and the Dockerfile agree with the binary and with each other: the same
// install path and configuration file, Type=notify, a reload that checks
// the file first, a stop timeout longer than shutdown_grace (the default
// and every example's), a descriptor limit for two fds per session, the
// user the snippets create, the state directory the unit leaves writable
// and where every example keeps its mapping file, and the ports the image
// exposes.
func TestPackagingFiles(t *testing.T) {
	unitB, err := os.ReadFile("systemd/switchyard.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(unitB)
	for key, want := range map[string]string{
		"Type": "notify", "NotifyAccess": "main", "ExecStart": "/usr/bin/switchyard",
		"Environment": "SWITCHYARD_CONFIG=/etc/switchyard/switchyard.toml",
		"User":        "switchyard", "Group": "switchyard", "StateDirectory": "switchyard",
	} {
		if got := unitValue(unit, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	var reloads []string
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, "ExecReload="); ok {
			reloads = append(reloads, v)
		}
	}
	if len(reloads) != 2 || reloads[0] != "/usr/bin/switchyard --check-config" || reloads[1] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload = %q: want the check, then SIGHUP", reloads)
	}
	sysusers, err := os.ReadFile("systemd/switchyard.sysusers")
	if err != nil || !regexp.MustCompile(`(?m)^u switchyard - ".*" /var/lib/switchyard /usr/sbin/nologin$`).Match(sysusers) {
		t.Errorf("sysusers: %q %v", sysusers, err)
	}
	tmpfiles, err := os.ReadFile("systemd/switchyard.tmpfiles")
	if err != nil || !regexp.MustCompile(`(?m)^d /var/lib/switchyard +0750 switchyard switchyard -$`).Match(tmpfiles) ||
		!regexp.MustCompile(`(?m)^d /etc/switchyard +0750 root +switchyard -$`).Match(tmpfiles) {
		t.Errorf("tmpfiles: %q %v", tmpfiles, err)
	}
	graces := map[string]time.Duration{"default": config.Default().Server.ShutdownGrace.D()}
	examples, _ := filepath.Glob("../examples/*.toml")
	for _, f := range examples {
		c, err := config.Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if c.Admin == nil {
			t.Errorf("%s has no [admin]", f)
		}
		if c.Mapping.File != nil && !strings.HasPrefix(c.Mapping.File.Path, "/var/lib/switchyard/") {
			t.Errorf("%s keeps its mapping file at %s, outside /var/lib/switchyard (read-only for the unit)", f, c.Mapping.File.Path)
		}
		graces[filepath.Base(f)] = c.Server.ShutdownGrace.D()
	}
	stop, err := time.ParseDuration(strings.ReplaceAll(unitValue(unit, "TimeoutStopSec"), " ", ""))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	for name, g := range graces {
		if stop <= g {
			t.Errorf("TimeoutStopSec %v is not longer than shutdown_grace %v (%s)", stop, g, name)
		}
	}
	if got := unitValue(unit, "LimitNOFILE"); got != "1048576" {
		t.Errorf("LimitNOFILE = %q", got)
	}

	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`ENTRYPOINT ["/usr/local/bin/switchyard"]`,
		"/usr/local/bin/switchyard-healthcheck",
		"CGO_ENABLED=0",
		"USER ",
		"HEALTHCHECK ",
		"cap_net_bind_service",
		"FROM --platform=$BUILDPLATFORM ",
		"GOOS=${TARGETOS} GOARCH=${TARGETARCH}",
		"internal/version.Version=${VERSION}",
		`org.opencontainers.image.version="${VERSION}"`,
		`org.opencontainers.image.licenses="Apache-2.0"`,
		"EXPOSE 24 25 110 143 443 465 587 993 995 4190 9443",
		"SWITCHYARD_INIT_DIR=/var/lib/switchyard",
	} {
		if !bytes.Contains(df, []byte(want)) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
