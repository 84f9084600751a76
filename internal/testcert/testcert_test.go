package testcert

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestMakeSpec(t *testing.T) {
	c, err := Make(Spec{CommonName: "peer", Organization: "org", Names: []string{"mail.test", "127.0.0.1"}, Validity: 48 * time.Hour, ServerOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	l := c.Leaf
	if l.Subject.CommonName != "peer" || len(l.Subject.Organization) != 1 || l.Subject.Organization[0] != "org" {
		t.Errorf("subject %v", l.Subject)
	}
	if len(l.DNSNames) != 1 || l.DNSNames[0] != "mail.test" || len(l.IPAddresses) != 1 || !l.IPAddresses[0].Equal([]byte{127, 0, 0, 1}) {
		t.Errorf("names %v %v", l.DNSNames, l.IPAddresses)
	}
	if len(l.ExtKeyUsage) != 1 || l.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("usage %v", l.ExtKeyUsage)
	}
	if d := l.NotAfter.Sub(l.NotBefore); d != 49*time.Hour {
		t.Errorf("valid for %v", d)
	}
	if err := l.VerifyHostname("mail.test"); err != nil {
		t.Error(err)
	}
	tc, err := c.TLS()
	if err != nil || tc.Leaf != c.Leaf || tc.PrivateKey == nil {
		t.Errorf("TLS: %v %v", tc.Leaf, err)
	}
}

func TestNewDefaults(t *testing.T) {
	cert, certPEM, keyPEM, err := New("localhost")
	if err != nil || len(certPEM) == 0 || len(keyPEM) == 0 {
		t.Fatal(err)
	}
	l, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if l.Subject.CommonName != "switchyard test" || len(l.ExtKeyUsage) != 2 || !l.IsCA {
		t.Errorf("leaf %v %v %v", l.Subject, l.ExtKeyUsage, l.IsCA)
	}
}
