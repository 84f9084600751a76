// Package demo runs switchyard with everything built in: two small IMAP
// backends of its own (backend.go) ("old" and "new"), a mapping file that sends one account to
// each, a self-signed certificate and loopback listeners. It is what
// `make run` starts, so a newcomer can try the proxy with no mail server.
package demo

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/switchyard-mail/switchyard/internal/testcert"
)

// Password is every demo account's password.
const Password = "demo-password"

// Accounts are the demo users; the mapping file sends alice to "new".
var Accounts = []string{"alice@example.com", "bob@example.com"}

// Demo is a running set of demo backends and the files they need.
type Demo struct {
	Dir         string
	MappingFile string
	Old, New    *backend
	IMAPAddr    string // plaintext + STARTTLS listener
	IMAPSAddr   string // implicit TLS listener
}

// Start starts the backends and writes the demo's files into a new
// temporary directory. imapAddr and imapsAddr are the proxy's listeners.
func Start(imapAddr, imapsAddr string) (*Demo, error) {
	dir, err := os.MkdirTemp("", "switchyard-demo-")
	if err != nil {
		return nil, err
	}
	d := &Demo{Dir: dir, MappingFile: filepath.Join(dir, "mappings.txt"), IMAPAddr: imapAddr, IMAPSAddr: imapsAddr}
	users := map[string]string{}
	for _, a := range Accounts {
		users[a] = Password
	}
	if d.Old, err = listenBackend("127.0.0.1:0", "old", users); err != nil {
		return nil, err
	}
	if d.New, err = listenBackend("127.0.0.1:0", "new", users); err != nil {
		d.Old.Close()
		return nil, err
	}
	mapping := "# account            destination\nalice@example.com    new\n# every other account goes to the default destination, \"old\"\n"
	if err := os.WriteFile(d.MappingFile, []byte(mapping), 0o644); err != nil {
		return nil, err
	}
	return d, nil
}

// Config returns the demo's configuration file.
func (d *Demo) Config() (string, error) {
	cert, key, err := testcert.WriteFiles(d.Dir, "localhost", "127.0.0.1")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`# switchyard demo configuration (generated)
[server]
hostname = "localhost"
backend_timeout = "5s"

[tls.certificate.demo]
cert = %q
key = %q
default = true

[listener.imap]
protocol = "imap"
bind = [%q]
tls = "starttls"

[listener.imaps]
protocol = "imap"
bind = [%q]
tls = "implicit"

%s
%s
[routing]
default_destination = "old"

[mapping]
source = "file"
positive_ttl = "2s"
negative_ttl = "2s"
[mapping.file]
path = %q

[capabilities.imap]
allow_plain_auth_without_tls = true
`, cert, key, d.IMAPAddr, d.IMAPSAddr, destination("old", d.Old), destination("new", d.New), d.MappingFile), nil
}

// destination is the section of the configuration for a demo backend.
func destination(name string, b *backend) string {
	_, port, _ := cutLast(b.Addr(), ':')
	return fmt.Sprintf(`[destination.%[1]s]
host = "127.0.0.1"
forwarding = "xclient"
allow_plaintext_auth = true
[destination.%[1]s.protocol.imap]
port = %[2]s
tls = "plain"
`, name, port)
}

// Instructions tells a person how to try the demo.
func (d *Demo) Instructions() string {
	h, p, _ := cutLast(d.IMAPAddr, ':')
	_, ps, _ := cutLast(d.IMAPSAddr, ':')
	return fmt.Sprintf(`
switchyard demo is running.
  IMAP (STARTTLS offered, plaintext login allowed): %[1]s
  IMAPS (implicit TLS, self-signed):                 %[2]s
  backends: old=%[3]s new=%[4]s   password for every account: %[5]s
  mapping file: %[6]s  (alice -> new; everyone else -> old)

Try it (each reads message 1, whose subject names the backend):
  curl -s 'imap://%[7]s:%[8]s/INBOX;UID=1' --user 'alice@example.com:%[5]s' | grep Subject
  curl -sk 'imaps://%[7]s:%[9]s/INBOX;UID=1' --user 'bob@example.com:%[5]s' | grep Subject
  python3 -c 'import imaplib; m=imaplib.IMAP4("%[7]s",%[8]s); m.starttls(); m.login("alice@example.com","%[5]s"); m.select(); print([l for l in m.fetch("1","(BODY[])")[1][0][1].decode().splitlines() if l.startswith("Subject")][0])'

Move alice to the old backend (the file is watched; SIGHUP also reloads):
  sed -i 's/^alice@example.com .*/alice@example.com old/' %[6]s
Stop with Ctrl-C.
`, d.IMAPAddr, d.IMAPSAddr, d.Old.Addr(), d.New.Addr(), Password, d.MappingFile, h, p, ps)
}

// Close stops the backends and removes the files.
func (d *Demo) Close() {
	d.Old.Close()
	d.New.Close()
	os.RemoveAll(d.Dir)
}

func cutLast(s string, sep byte) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
