//go:build linux

package e2e

import (
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
)

// EnvDebUnit names the systemd unit the installed Debian package put in
// place (/lib/systemd/system/switchyard.service); .ci/run builds the
// package (make deb), installs it with apt-get and sets it.
const EnvDebUnit = "SWITCHYARD_DEB_UNIT"

// unitLines returns every value of key in a unit file, in order.
func unitLines(unit, key string) []string {
	var out []string
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == key {
			out = append(out, v)
		}
	}
	return out
}

// TestDebianPackage checks the installed package as an operator meets
// it: the files it installs, the system user and the starter
// configuration its postinst writes, the version it reports, and the
// unit's commands run as systemd runs them (no systemd needed): ExecStart
// serves a Dovecot (the unit's environment, with SWITCHYARD_CONFIG
// pointing at the test's file as a drop-in would), tells the test's
// NOTIFY_SOCKET it is ready, reloads through ExecReload (check, then
// SIGHUP), refuses a broken file at ExecReload, and stops on SIGTERM.
func TestDebianPackage(t *testing.T) {
	harness.Gate(t)
	unitPath := os.Getenv(EnvDebUnit)
	if unitPath == "" {
		if os.Getenv(harness.EnvRequire) == "1" && os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: .ci/run installs the package and sets it", EnvDebUnit)
		}
		t.Skipf("the Debian package is not installed: make deb && apt-get install ./bin/switchyard_*.deb, then %s=/lib/systemd/system/switchyard.service", EnvDebUnit)
	}
	unitB, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(unitB)
	execStart := strings.Fields(unitLines(unit, "ExecStart")[0])
	bin := execStart[0]

	t.Run("files", func(t *testing.T) {
		for _, p := range []string{bin, "/usr/bin/switchyard-healthcheck", "/usr/lib/sysusers.d/switchyard.conf",
			"/usr/lib/tmpfiles.d/switchyard.conf", "/usr/share/man/man8/switchyard.8.gz",
			"/usr/share/bash-completion/completions/switchyard", "/usr/share/doc/switchyard/copyright",
			"/usr/share/doc/switchyard/examples/dovecot-migration.toml"} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("not installed: %v", err)
			}
		}
		if _, err := user.Lookup("switchyard"); err != nil {
			t.Errorf("the system user: %v", err)
		}
		for p, mode := range map[string]os.FileMode{"/var/lib/switchyard": 0o750, "/etc/switchyard": 0o750} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != mode {
				t.Errorf("%s: %v %v, want %v", p, fi.Mode(), err, mode)
			}
		}
		out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "switchyard").Output()
		if err != nil {
			t.Fatalf("dpkg-query: %v", err)
		}
		v, err := exec.Command(bin, "--version").Output()
		if err != nil || !strings.HasPrefix(string(v), "switchyard "+string(out)+" (") {
			t.Errorf("%s --version = %q (%v), want the package's version %s", bin, v, err, out)
		}
		// The starter configuration the postinst wrote passes the unit's
		// own check (ExecReload's first command) with the unit's
		// environment.
		check := unitLines(unit, "ExecReload")[0]
		cmd := exec.Command(strings.Fields(check)[0], strings.Fields(check)[1:]...)
		cmd.Env = unitEnv(unit)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s on the installed /etc/switchyard: %v\n%s", check, err, out)
		}
	})

	t.Run("serve", func(t *testing.T) {
		d := peers.StartDovecot(t, "deb", peers.DovecotOptions{})
		dir := t.TempDir()
		cfg := filepath.Join(dir, "switchyard.toml")
		_, port := peers.HostPort(d.IMAPAddr)
		p, _ := strconv.Atoi(port)
		good := harness.SwitchyardConfig{
			AllowPlainAuthWithoutTLS: true,
			Listeners:                []harness.SYListener{{ID: "imap", Protocol: "imap", TLS: "plain"}},
			Destinations: []harness.SYDestination{{ID: "deb", Host: "127.0.0.1", Forwarding: "xclient", AllowPlaintextAuth: true,
				Endpoints: []harness.SYEndpoint{{Protocol: "imap", Port: p, TLS: "plain"}}}},
			DefaultDestination: "deb",
		}.TOML()
		if err := os.WriteFile(cfg, []byte(good), 0o644); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(harness.ShortTempDir(t, "sdn"), "notify")
		notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer notify.Close()
		// next reads the next state change (status updates alone are
		// skipped: they come every few seconds).
		next := func(want string) {
			t.Helper()
			buf := make([]byte, 4096)
			for {
				_ = notify.SetReadDeadline(time.Now().Add(15 * time.Second))
				n, err := notify.Read(buf)
				if err == nil && strings.HasPrefix(string(buf[:n]), "STATUS=") {
					continue
				}
				if err != nil || !strings.HasPrefix(string(buf[:n]), want) {
					t.Fatalf("sd_notify: %q %v, want %q first", buf[:n], err, want)
				}
				return
			}
		}

		env := append(unitEnv(unit), "SWITCHYARD_CONFIG="+cfg, "NOTIFY_SOCKET="+sock, "SWITCHYARD_READY_FILE="+filepath.Join(dir, "ready.json"))
		proc := harness.NewProcess(t, dir, "switchyard-unit", bin, execStart[1:]...)
		proc.Env = env
		if err := proc.Start(); err != nil {
			t.Fatal(err)
		}
		next("READY=1\n")
		doc, err := harness.WaitReadyFile(filepath.Join(dir, "ready.json"), 15*time.Second, proc.Done())
		if err != nil {
			t.Fatal(err)
		}
		res, err := PythonIMAP(t, IMAPLogin{Addr: doc.Listeners["imap"][0], User: "alice@test", Password: peers.DefaultUsers["alice@test"]})
		ExpectMarker(t, res, err, "deb")

		// systemctl reload: ExecReload's commands in order, $MAINPID
		// being the process ExecStart started.
		reload := func() error {
			for _, line := range unitLines(unit, "ExecReload") {
				args := strings.Fields(strings.ReplaceAll(line, "$MAINPID", strconv.Itoa(proc.PID())))
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					return &reloadError{line, err, string(out)}
				}
			}
			return nil
		}
		if err := reload(); err != nil {
			t.Fatal(err)
		}
		next("RELOADING=1\n")
		next("READY=1\n")
		// A broken file is refused by the check: no signal is sent.
		if err := os.WriteFile(cfg, []byte(good+"\n[bogus]\nkey = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := reload(); err == nil || !strings.Contains(err.Error(), "bogus: unknown key") {
			t.Fatalf("ExecReload with a broken file: %v", err)
		}
		res, err = PythonIMAP(t, IMAPLogin{Addr: doc.Listeners["imap"][0], User: "bob@test", Password: peers.DefaultUsers["bob@test"]})
		ExpectMarker(t, res, err, "deb")

		if err := proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		next("STOPPING=1\n")
		select {
		case <-proc.Done():
			if err := proc.ExitErr(); err != nil {
				t.Fatalf("exit after SIGTERM: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("did not stop on SIGTERM")
		}
	})
}

type reloadError struct {
	line string
	err  error
	out  string
}

func (e *reloadError) Error() string {
	return "ExecReload=" + e.line + ": " + e.err.Error() + "\n" + e.out
}

// unitEnv is the environment a unit's commands get: PATH, and its
// Environment= lines (EnvironmentFile= is optional and not read here).
func unitEnv(unit string) []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, v := range unitLines(unit, "Environment") {
		env = append(env, strings.Trim(v, `"`))
	}
	return env
}
