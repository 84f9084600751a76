// Package configtest holds what the tests of config and its subpackages
// share: a directory with a certificate, a mapping file and a token, and a
// small valid configuration that names them.
package configtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/internal/testcert"
)

// WriteKeyPair writes a fresh self-signed certificate and its key as PEM
// files into dir and returns their paths.
func WriteKeyPair(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	_, certPEM, keyPEM, err := testcert.New(name)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	WriteFile(t, certFile, string(certPEM))
	WriteFile(t, keyFile, string(keyPEM))
	return certFile, keyFile
}

// WriteFile writes content to path (mode 0600), failing the test on error.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ReadFile returns the content of path, failing the test on error.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Fixture is a directory with a certificate, a mapping file and a token.
type Fixture struct {
	Dir, Cert, Key, Mapping, Token string
}

// New makes the fixture in a fresh temporary directory.
func New(t testing.TB) *Fixture {
	t.Helper()
	dir := t.TempDir()
	f := &Fixture{Dir: dir}
	f.Cert, f.Key = WriteKeyPair(t, dir, "mail.example.com")
	f.Mapping = filepath.Join(dir, "mappings.tsv")
	WriteFile(t, f.Mapping, "# identifier  destination\n")
	f.Token = filepath.Join(dir, "admin.token")
	WriteFile(t, f.Token, strings.Repeat("k", 40)+"\n")
	return f
}

// Expand replaces CERT, KEY, MAPPING and TOKEN in a document by the
// fixture's paths.
func (f *Fixture) Expand(doc string) string {
	return strings.NewReplacer(`"CERT"`, `"`+f.Cert+`"`, `"KEY"`, `"`+f.Key+`"`,
		`"MAPPING"`, `"`+f.Mapping+`"`, `"TOKEN"`, `"`+f.Token+`"`).Replace(doc)
}

// BaseDoc is a small valid configuration: two destinations, IMAP and
// submission listeners, a mapping file.
const BaseDoc = `
[server]
hostname = "mail.example.com"

[tls.certificate.default]
cert = "CERT"
key = "KEY"

[routing]
default_destination = "old"

[mapping]
source = "file"

[mapping.file]
path = "MAPPING"

[destination.old]
host = "old.internal"
forwarding = "xclient"

[destination.old.protocol.imap]
port = 143
tls = "starttls"

[destination.old.protocol.submission]
port = 587
tls = "starttls"

[destination.new]
host = "10.0.0.2"
tls_server_name = "new.internal"

[destination.new.protocol.imap]
port = 993
tls = "implicit"

[listener.imaps]
protocol = "imap"
bind = ["127.0.0.1:10993"]
tls = "implicit"

[listener.submission]
protocol = "submission"
bind = ["127.0.0.1:10587", "[::1]:10587"]
tls = "starttls"
`
