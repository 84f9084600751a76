//go:build linux

package e2e

import (
	"bufio"
	"cmp"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
)

// POP3Login describes one POP3 client session: connect, authenticate,
// retrieve message 1, quit.
type POP3Login struct {
	Addr     string
	User     string
	Password string
	// Auth is "user" (USER/PASS) or "plain" (AUTH PLAIN with an initial
	// response). Empty means "user".
	Auth string
	// TLS is "plain", "starttls" (STLS) or "implicit". Empty means "plain".
	TLS string
	// Source is the local address to connect from (not pop3test).
	Source string
	// UTF8 (python only) sends UTF8 (RFC 6856) before the login; the run
	// fails unless CAPA lists UTF8 and the reply is +OK.
	UTF8    bool
	Timeout time.Duration
}

func (o POP3Login) auth() string           { return cmp.Or(o.Auth, "user") }
func (o POP3Login) tlsMode() string        { return cmp.Or(o.TLS, "plain") }
func (o POP3Login) timeout() time.Duration { return timeoutOr(o.Timeout, 20*time.Second) }

// pop3ClientPy drives Python's poplib and prints one JSON object:
// {"ok": true, "subject": ...} or {"ok": false, "stage": ..., "error": ...}.
const pop3ClientPy = `
import base64, email, json, poplib, socket, ssl, sys
host, port, user, pw, auth, mode, source, timeout, utf8 = sys.argv[1:10]
port, timeout = int(port), float(timeout)
if source:
    orig = socket.create_connection
    def bound(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, **kw):
        return orig(address, timeout, (source, 0), **kw)
    socket.create_connection = bound
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
stage = "connect"
try:
    if mode == "implicit":
        m = poplib.POP3_SSL(host, port, context=ctx, timeout=timeout)
    else:
        m = poplib.POP3(host, port, timeout=timeout)
    if mode == "starttls":
        stage = "stls"
        m.stls(context=ctx)
    stage = "capa"
    caps = m.capa()
    if utf8 == "1":
        stage = "utf8"
        if "UTF8" not in caps:
            raise Exception("UTF8 not in CAPA: %r" % (caps,))
        m.utf8()
    stage = "login"
    if auth == "plain":
        ir = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
        m._shortcmd("AUTH PLAIN " + ir)
    else:
        m.user(user)
        m.pass_(pw)
    stage = "retr"
    resp, lines, octets = m.retr(1)
    msg = email.message_from_bytes(b"\r\n".join(lines))
    stage = "quit"
    m.quit()
    print(json.dumps({"ok": True, "subject": msg["Subject"]}))
except Exception as e:
    print(json.dumps({"ok": False, "stage": stage, "error": repr(e)}))
    sys.exit(1)
`

// PythonPOP3 drives Python's poplib. It returns the Subject of message 1.
func PythonPOP3(t testing.TB, o POP3Login) (IMAPResult, error) {
	t.Helper()
	py, host, port := pythonFor(t, o.Addr)
	utf8 := "0"
	if o.UTF8 {
		utf8 = "1"
	}
	stdout, stderr, err := harness.RunBounded(o.timeout(), nil, py, "-c", pop3ClientPy, host, port, o.User, o.Password,
		o.auth(), o.tlsMode(), o.Source, fmt.Sprint(o.timeout().Seconds()/2), utf8)
	return pythonResult(stdout, stderr, err, "poplib")
}

// CurlPOP3 retrieves message 1 with curl: pop3://, pop3s:// (-k) or
// pop3:// with --ssl-reqd (STLS). Auth "plain" forces SASL PLAIN; "user"
// leaves curl its choice.
func CurlPOP3(t testing.TB, o POP3Login) (IMAPResult, error) {
	t.Helper()
	curl := harness.RequireBinary(t, "curl")
	scheme, args := curlMailArgs("pop3", o.tlsMode(), o.timeout(), o.User, o.Password)
	if o.auth() == "plain" {
		args = append(args, "--login-options", "AUTH=PLAIN")
	}
	return curlSubject(curl, args, o.Source, fmt.Sprintf("%s://%s/1", scheme, o.Addr), o.timeout()+2*time.Second, "retrieved")
}

// POP3Test runs Cyrus pop3test: -m user (USER/PASS) or -m PLAIN, -t ""
// for STLS, -s for implicit TLS; after the login it retrieves message 1
// and returns its Subject.
func POP3Test(t testing.TB, o POP3Login) (IMAPResult, error) {
	t.Helper()
	if o.Source != "" {
		return IMAPResult{}, fmt.Errorf("pop3test cannot choose its source address")
	}
	if o.UTF8 {
		return IMAPResult{}, fmt.Errorf("pop3test cannot send UTF8 before the login")
	}
	mech := map[string]string{"user": "user", "plain": "PLAIN"}[o.auth()]
	out, err := runCyrusClient(t, "pop3test", CyrusLogin{Addr: o.Addr, User: o.User, Password: o.Password,
		Mech: mech, TLS: o.tlsMode(), Script: "RETR 1\r\n", Timeout: o.timeout()})
	res := IMAPResult{Output: out}
	if err != nil {
		return res, err
	}
	m := subjectRe.FindStringSubmatch(out)
	if m == nil {
		return res, fmt.Errorf("pop3test: no Subject in the retrieved message: %s", out)
	}
	res.Subject = m[1]
	return res, nil
}

// plainIR is the base64 SASL PLAIN initial response for user and password.
func plainIR(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
}

// startClientTLS runs a TLS client handshake on a raw connection after a
// STARTTLS/STLS go-ahead and returns the connection that reads and writes
// through it (certificate not verified).
func startClientTLS(t testing.TB, c *RawConn) *RawConn {
	t.Helper()
	tc := tls.Client(c.Conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test peer with a self-signed cert
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	_ = tc.SetDeadline(time.Time{})
	return &RawConn{t: t, Conn: tc, R: bufio.NewReader(tc), ReadTimeout: c.ReadTimeout}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
