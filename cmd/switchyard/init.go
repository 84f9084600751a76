package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/switchyard-mail/switchyard/config"
)

// initOptions are switchyard init's settings.
type initOptions struct {
	dir       string // where the configuration, token and certificate go
	stateDir  string // where the mapping file goes (default dir)
	adminBind string
	force     bool // overwrite an existing configuration
}

// initFiles are what switchyard init wrote.
type initFiles struct {
	config, token, cert, key, mapping string
}

// writeStarter writes a starter configuration, as the reference proxy's
// `proxy init` does: the management API on its own (TLS with a fresh
// self-signed certificate, a random token in a file only its owner
// reads), an empty mapping file for the API to edit, and the sections
// that proxy mail written out as comments to fill in.
func writeStarter(o initOptions) (initFiles, error) {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return initFiles{}, err
	}
	state := dir
	if o.stateDir != "" {
		if state, err = filepath.Abs(o.stateDir); err != nil {
			return initFiles{}, err
		}
	}
	f := initFiles{
		config:  filepath.Join(dir, config.InitFile),
		token:   filepath.Join(dir, "admin.token"),
		cert:    filepath.Join(dir, "tls", "admin.crt"),
		key:     filepath.Join(dir, "tls", "admin.key"),
		mapping: filepath.Join(state, "mappings.tsv"),
	}
	if _, err := os.Stat(f.config); err == nil && !o.force {
		return f, fmt.Errorf("%s exists: not overwriting it (--force to replace the configuration, the token and the certificate)", f.config)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	for _, p := range []string{f.config, f.mapping, o.adminBind} {
		if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return f, fmt.Errorf("%q: a control character in a path", p)
		}
	}
	for _, d := range []string{dir, filepath.Dir(f.cert), state} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return f, err
		}
	}
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return f, err
	}
	if err := writeFile(f.token, []byte(hex.EncodeToString(token)+"\n"), 0o600); err != nil {
		return f, err
	}
	certPEM, keyPEM, err := selfSigned(o.adminBind)
	if err != nil {
		return f, err
	}
	if err := writeFile(f.cert, certPEM, 0o644); err != nil {
		return f, err
	}
	if err := writeFile(f.key, keyPEM, 0o600); err != nil {
		return f, err
	}
	if _, err := os.Stat(f.mapping); errors.Is(err, fs.ErrNotExist) {
		if err := writeFile(f.mapping, []byte(mappingHeader), 0o640); err != nil {
			return f, err
		}
	}
	var b strings.Builder
	if err := starterTemplate.Execute(&b, map[string]string{
		"Date": time.Now().UTC().Format(time.DateOnly), "AdminBind": o.adminBind,
		"Token": f.token, "Cert": f.cert, "Key": f.key, "Mapping": f.mapping, "Config": f.config,
	}); err != nil {
		return f, err
	}
	return f, writeFile(f.config, []byte(b.String()), 0o640)
}

// writeFile writes data beside path and renames it over path.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// selfSigned makes an ECDSA P-256 certificate for the admin API: for
// localhost, the loopback addresses, this host's name and the bind
// address, valid for five years.
func selfSigned(bind string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if host, _, err := net.SplitHostPort(bind); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			ips = append(ips, ip)
		}
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "switchyard admin API"},
		DNSNames:     names,
		IPAddresses:  ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

const mappingHeader = `# switchyard mapping file: one "identifier destination" pair a line.
# The admin API (PUT /mappings, POST /mappings/import) rewrites this file;
# switchyard rereads it when it changes.
`

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

var starterTemplate = template.Must(template.New("starter").Funcs(template.FuncMap{"q": tomlString}).Parse(`# switchyard configuration, written by "switchyard init" on {{.Date}}.
#
# As it stands it serves the management API only. To proxy mail, fill in
# the commented sections below, check the file, and restart:
#   switchyard --check-config --config {{.Config}}
# Every key: config/README.md, or "man switchyard".

[server]
log_level = "info"

# The admin API's certificate (self-signed; replace it with yours, and
# add the certificates the listeners present).
[tls.certificate.admin]
cert = {{q .Cert}}
key = {{q .Key}}
default = true

[admin]
bind = {{q .AdminBind}}
tls = "implicit"
# The token (64 hex digits) is in this file, readable by its owner only:
#   curl -k -H "Authorization: Bearer $(cat {{.Token}})" https://{{.AdminBind}}/stats
bearer_token_file = {{q .Token}}

# A backend:
# [destination.backend]
# host = "mail.internal.example.com"
# [destination.backend.protocol.imap]
# port = 993
# tls = "implicit"
#
# Where accounts without a mapping go:
# [routing]
# default_destination = "backend"
#
# Per-account mappings, in a file the admin API edits:
# [mapping]
# source = "file"
# normalize = "lowercase"
# [mapping.file]
# path = {{q .Mapping}}
#
# What clients connect to:
# [listener.imaps]
# protocol = "imap"
# bind = ["0.0.0.0:993", "[::]:993"]
# tls = "implicit"
`))
