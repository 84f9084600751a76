package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeKeyPair writes a fresh self-signed certificate and its key as PEM
// files into dir and returns their paths.
func writeKeyPair(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
	return certFile, keyFile
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fieldErrors flattens the error Validate or Parse returned.
func fieldErrors(t testing.TB, err error) []*FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		t.Fatalf("error is not a *FieldError: %T %v", e, e)
	}
	walk(err)
	return out
}

// mustParse parses doc, failing the test on error.
func mustParse(t testing.TB, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc), "test.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// fixture is a directory with a certificate, a mapping file and a token.
type fixture struct {
	dir, cert, key, mapping, token string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir}
	f.cert, f.key = writeKeyPair(t, dir, "mail.example.com")
	f.mapping = filepath.Join(dir, "mappings.tsv")
	writeFile(t, f.mapping, "# identifier  destination\n")
	f.token = filepath.Join(dir, "admin.token")
	writeFile(t, f.token, strings.Repeat("k", 40)+"\n")
	return f
}

// expand replaces CERT, KEY, MAPPING and TOKEN in a document by the
// fixture's paths.
func (f *fixture) expand(doc string) string {
	return strings.NewReplacer(`"CERT"`, `"`+f.cert+`"`, `"KEY"`, `"`+f.key+`"`,
		`"MAPPING"`, `"`+f.mapping+`"`, `"TOKEN"`, `"`+f.token+`"`).Replace(doc)
}

// baseDoc is a small valid configuration: two destinations, IMAP and
// submission listeners, a mapping file.
const baseDoc = `
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
