package mockimap_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/mockimap"
)

// imaplibScript logs in with Python's imaplib (plain, then STARTTLS with
// AUTHENTICATE PLAIN), reads the marker and idles briefly.
const imaplibScript = `
import imaplib, ssl, sys
host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
m = imaplib.IMAP4(host, port, timeout=10)
assert "IDLE" in m.capabilities, m.capabilities
typ, _ = m.login("alice", "wonder land")
assert typ == "OK"
typ, data = m.select("INBOX")
assert typ == "OK" and data == [b"1"], data
typ, data = m.fetch("1", "(RFC822)")
assert typ == "OK", typ
msg = data[0][1]
assert b"Subject: Marker: you are on py" in msg and b"backend=py" in msg, msg
typ, data = m.uid("FETCH", "1", "(BODY.PEEK[HEADER])")
assert typ == "OK" and b"Marker" in data[0][1], data
typ, data = m.list()
assert typ == "OK" and b"INBOX" in data[0], data
m.logout()

ctx = ssl.create_default_context(cafile=cafile)
m = imaplib.IMAP4(host, port, timeout=10)
m.starttls(ssl_context=ctx)
typ, _ = m.authenticate("PLAIN", lambda _: b"\0bob\0" + b"pw\"with\\quotes")
assert typ == "OK"
try:
    imaplib.IMAP4(host, port, timeout=10).login("alice", "wrong")
    raise SystemExit("wrong password accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
m.logout()
print("imaplib ok")
`

func TestPythonImaplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	st, _, err := mockimap.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, mockimap.Config{Name: "py", TLS: st})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, certPEM(st), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(s.Addr(), ":")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", imaplibScript, host, port, ca).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "imaplib ok") {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	if s.Logins() != 2 || s.FailedLogins() != 1 {
		t.Fatalf("logins %d failures %d", s.Logins(), s.FailedLogins())
	}
}
