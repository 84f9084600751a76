//go:build linux

package e2e

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
)

// IMAPLogin describes one client session: connect, authenticate, examine
// INBOX, read the Subject of message 1, log out.
type IMAPLogin struct {
	Addr     string // host:port
	User     string
	Password string
	// Auth is "login" (the IMAP LOGIN command), "plain" (AUTHENTICATE
	// PLAIN) or "sasl-login" (AUTHENTICATE LOGIN). Empty means "login".
	Auth string
	// TLS is "plain", "starttls" or "implicit". Empty means "plain".
	TLS string
	// Source is the local address to connect from (python and curl only),
	// so that a backend's log can prove the client address was forwarded.
	Source string
	// Timeout bounds the whole client run (default 20s).
	Timeout time.Duration
}

func (o IMAPLogin) auth() string {
	if o.Auth == "" {
		return "login"
	}
	return o.Auth
}

func (o IMAPLogin) tls() string {
	if o.TLS == "" {
		return "plain"
	}
	return o.TLS
}

func (o IMAPLogin) timeout() time.Duration { return timeoutOr(o.Timeout, 20*time.Second) }

// timeoutOr is a client's timeout d, or def when d is not set (zero or
// negative).
func timeoutOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// IMAPResult is what a client driver saw.
type IMAPResult struct {
	Subject string // Subject of message 1 in INBOX: tells which backend answered
	Output  string // the client's combined output, for failure messages
}

// IMAPDriver runs one real IMAP client. A driver returns an error when the
// client reports a failure (login refused, connection closed, ...); it
// calls t.Skip/t.Fatal only when the client program is missing.
type IMAPDriver struct {
	Name string
	Run  func(t testing.TB, o IMAPLogin) (IMAPResult, error)
	// Supports reports whether this client can do what o asks.
	Supports func(o IMAPLogin) bool
}

// IMAPDrivers lists every real IMAP client the suite drives.
var IMAPDrivers = []IMAPDriver{
	{Name: "python-imaplib", Run: PythonIMAP, Supports: func(IMAPLogin) bool { return true }},
	// curl 7.88 (Debian 12) cannot be made to use the LOGIN command when
	// the server offers SASL (AUTH=+LOGIN came later).
	{Name: "curl", Run: CurlIMAP, Supports: func(o IMAPLogin) bool { return o.auth() != "login" }},
	{Name: "imtest", Run: IMTest, Supports: func(o IMAPLogin) bool { return o.Source == "" }},
}

//go:embed testdata/imapclient.py
var imapClientPy []byte

var (
	scriptOnce sync.Once
	scriptPath string
	scriptErr  error
)

// pythonScript writes the embedded imaplib driver once per test run.
func pythonScript() (string, error) {
	scriptOnce.Do(func() {
		scriptPath, scriptErr = writeRunFile("sy-py-", "imapclient.py", imapClientPy)
	})
	return scriptPath, scriptErr
}

// writeRunFile writes content as name into a new directory (named after
// prefix) that is removed when the test run ends, and returns its path.
func writeRunFile(prefix, name string, content []byte) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	harness.RegisterRunCleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, content, 0o644)
}

// pythonFor requires python3 and splits addr into the host and port a
// Python driver is given.
func pythonFor(t testing.TB, addr string) (py, host, port string) {
	t.Helper()
	py = harness.RequireBinary(t, "python3")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return py, host, port
}

// curlMailArgs starts curl's arguments for fetching mail over scheme
// ("imap", "pop3"): the time limit and the credentials; for tls
// "implicit" the scheme becomes its TLS form (imaps, pop3s), for
// "starttls" TLS is required; either way the certificate is not checked.
func curlMailArgs(scheme, tls string, timeout time.Duration, user, password string) (string, []string) {
	args := []string{"-sS", "--max-time", fmt.Sprint(int(timeout.Seconds())), "--user", user + ":" + password}
	switch tls {
	case "implicit":
		scheme += "s"
		args = append(args, "-k")
	case "starttls":
		args = append(args, "--ssl-reqd", "-k")
	}
	return scheme, args
}

// PythonIMAP drives Python's imaplib (testdata/imapclient.py).
func PythonIMAP(t testing.TB, o IMAPLogin) (IMAPResult, error) {
	t.Helper()
	py, host, port := pythonFor(t, o.Addr)
	script, err := pythonScript()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{script, "--host", host, "--port", port, "--user", o.User, "--password", o.Password,
		"--auth", o.auth(), "--tls", o.tls(), "--timeout", fmt.Sprint(o.timeout().Seconds() / 2)}
	if o.Source != "" {
		args = append(args, "--source", o.Source)
	}
	stdout, stderr, err := harness.RunBounded(o.timeout(), nil, py, args...)
	return pythonResult(stdout, stderr, err, "imaplib")
}

// pythonResult reads the JSON line a Python driver (testdata/*.py) prints:
// ok, the Subject it read, or the stage it failed at and why. lib names
// the driver in errors ("imaplib", "poplib").
func pythonResult(stdout, stderr string, err error, lib string) (IMAPResult, error) {
	res := IMAPResult{Output: stdout + stderr}
	var out struct {
		OK      bool   `json:"ok"`
		Subject string `json:"subject"`
		Stage   string `json:"stage"`
		Error   string `json:"error"`
	}
	if jerr := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &out); jerr != nil {
		return res, fmt.Errorf("python %s: no result (%v, run error %v): %s", lib, jerr, err, res.Output)
	}
	if !out.OK {
		return res, fmt.Errorf("python %s failed at %s: %s", lib, out.Stage, out.Error)
	}
	res.Subject = out.Subject
	return res, nil
}

var subjectRe = regexp.MustCompile(`(?mi)^Subject: *(.*?)\r?$`)

// CurlIMAP fetches message UID 1 from INBOX with curl: imap://,
// imaps:// (-k) or imap:// with --ssl-reqd (STARTTLS), authenticating with
// SASL PLAIN or LOGIN.
func CurlIMAP(t testing.TB, o IMAPLogin) (IMAPResult, error) {
	t.Helper()
	curl := harness.RequireBinary(t, "curl")
	scheme, args := curlMailArgs("imap", o.tls(), o.timeout(), o.User, o.Password)
	switch o.auth() {
	case "plain":
		args = append(args, "--login-options", "AUTH=PLAIN")
	case "sasl-login":
		args = append(args, "--login-options", "AUTH=LOGIN")
	default:
		return IMAPResult{}, fmt.Errorf("curl cannot be told to use the LOGIN command")
	}
	return curlSubject(curl, args, o.Source, fmt.Sprintf("%s://%s/INBOX;UID=1", scheme, o.Addr), o.timeout()+2*time.Second, "fetched")
}

// curlSubject runs curl with args, --interface source (when set) and
// --url url, and returns the Subject of the message it printed; what
// names that message in errors ("fetched", "retrieved").
func curlSubject(curl string, args []string, source, url string, timeout time.Duration, what string) (IMAPResult, error) {
	if source != "" {
		args = append(args, "--interface", source)
	}
	args = append(args, "--url", url)
	stdout, stderr, err := harness.RunBounded(timeout, nil, curl, args...)
	res := IMAPResult{Output: stdout + stderr}
	if err != nil {
		return res, fmt.Errorf("curl: %v: %s", err, strings.TrimSpace(stderr))
	}
	m := subjectRe.FindStringSubmatch(stdout)
	if m == nil {
		return res, fmt.Errorf("curl: no Subject in the %s message: %q", what, stdout)
	}
	res.Subject = m[1]
	return res, nil
}

// IMTest runs Cyrus imtest: -m PLAIN (SASL) or -m login (the LOGIN
// command), -t "" for STARTTLS, -s for implicit TLS, then feeds it a
// script on stdin that examines INBOX and fetches message 1's subject.
func IMTest(t testing.TB, o IMAPLogin) (IMAPResult, error) {
	t.Helper()
	imtest := harness.RequireBinary(t, "imtest")
	if o.Source != "" {
		return IMAPResult{}, fmt.Errorf("imtest cannot choose its source address")
	}
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		t.Fatal(err)
	}
	// imtest: "login" (lower case) is the IMAP LOGIN command, upper case
	// names are SASL mechanisms.
	mech := map[string]string{"login": "login", "plain": "PLAIN", "sasl-login": "LOGIN"}[o.auth()]
	args := []string{"-p", port, "-a", o.User, "-w", o.Password, "-m", mech}
	switch o.tls() {
	case "starttls":
		args = append(args, "-t", "")
	case "implicit":
		args = append(args, "-s")
	}
	args = append(args, host)
	script := "x1 EXAMINE INBOX\r\nx2 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\nx3 LOGOUT\r\n"
	stdout, stderr, err := harness.RunBounded(o.timeout(), []byte(script), imtest, args...)
	res := IMAPResult{Output: stdout + stderr}
	if err != nil && !strings.Contains(stdout, "x3 OK") {
		return res, fmt.Errorf("imtest: %v: %s", err, res.Output)
	}
	if !strings.Contains(stdout, "x2 OK") {
		return res, fmt.Errorf("imtest: FETCH did not succeed: %s", res.Output)
	}
	m := subjectRe.FindStringSubmatch(stdout)
	if m == nil {
		return res, fmt.Errorf("imtest: no Subject in the output: %s", res.Output)
	}
	res.Subject = m[1]
	return res, nil
}

// ExpectMarker fails t unless res came from backend name.
func ExpectMarker(t testing.TB, res IMAPResult, err error, backend string) {
	t.Helper()
	if err != nil {
		t.Fatalf("want a session on %s, got error: %v", backend, err)
	}
	if res.Subject != peers.Marker(backend) {
		t.Fatalf("landed on the wrong backend: subject %q, want %q", res.Subject, peers.Marker(backend))
	}
}
