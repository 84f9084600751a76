package config

import (
	"crypto/tls"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// allTLS12Suites is a TOML list body naming every default TLS 1.2 suite.
func allTLS12Suites() string {
	var names []string
	for _, s := range DefaultTLS12CipherSuites() {
		names = append(names, strconv.Quote(s.Name))
	}
	return strings.Join(names, ", ")
}

func TestTLSProtocolsApplied(t *testing.T) {
	p := Default().TLS.Protocols
	if lo, hi := p.Versions(); lo != tls.VersionTLS12 || hi != tls.VersionTLS13 {
		t.Fatalf("default versions %x..%x", lo, hi)
	}
	if p.CipherSuites() != nil {
		t.Fatal("nothing disabled must leave Go's defaults (nil)")
	}
	p = TLSProtocols{MinVersion: "1.3", MaxVersion: "1.3", DisableCipherSuites: []string{"tls_ecdhe_rsa_with_aes_128_gcm_sha256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"}}
	if lo, hi := p.Versions(); lo != tls.VersionTLS13 || hi != tls.VersionTLS13 {
		t.Fatalf("versions %x..%x", lo, hi)
	}
	got := p.CipherSuites()
	if len(got) != len(DefaultTLS12CipherSuites())-2 {
		t.Fatalf("%d suites left, want the defaults less two", len(got))
	}
	for _, id := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		if slices.Contains(got, id) {
			t.Errorf("%s is still offered", tls.CipherSuiteName(id))
		}
	}
}
