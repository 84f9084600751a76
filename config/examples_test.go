package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestExamples loads every file in examples/, points its certificate and
// mapping paths at test fixtures, and checks that Validate reports nothing
// but the features this build does not implement yet.
func TestExamples(t *testing.T) {
	// Examples may use features this build does not have yet; every other
	// problem is a mistake in the example.
	want := map[string][]string{
		"dovecot-migration.toml": nil,
		"stalwart-upgrade.toml":  nil,
		"cluster.toml":           nil,
	}
	files, err := filepath.Glob("../examples/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Fatalf("examples: %v, want %d files", files, len(want))
	}
	f := newFixture(t)
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			exp, ok := want[name]
			if !ok {
				t.Fatalf("new example %s: add its expectations here", name)
			}
			c, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			for id, cert := range c.TLS.Certificate {
				if !strings.HasPrefix(cert.Cert, "/etc/switchyard/") {
					t.Errorf("certificate %s: example paths should live under /etc/switchyard", id)
				}
				cert.Cert, cert.Key = f.cert, f.key
				c.TLS.Certificate[id] = cert
			}
			if c.Mapping.File != nil {
				if !strings.HasPrefix(c.Mapping.File.Path, "/var/lib/switchyard/") {
					t.Errorf("the mapping file, which the admin API rewrites, should live under /var/lib/switchyard")
				}
				c.Mapping.File.Path = f.mapping
			}
			if c.Admin == nil {
				t.Errorf("no [admin]: every example has the management API")
			} else if c.Admin.BearerTokenFile != "" {
				c.Admin.BearerTokenFile = f.token
			}
			var got []string
			for _, e := range fieldErrors(t, c.Validate()) {
				if strings.Contains(e.Msg, notSupported) {
					t.Logf("not in this build yet: %s: %s", e.Key, e.Msg)
					continue
				}
				got = append(got, e.Key+": "+e.Msg)
			}
			if !reflect.DeepEqual(got, exp) {
				t.Fatalf("Validate:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(exp, "\n"))
			}
		})
	}
}

func TestExampleSemantics(t *testing.T) {
	c, err := Load("../examples/dovecot-migration.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Destination["legacy"].ForwardingFor(IMAP); got != ForwardXCLIENT {
		t.Errorf("legacy forwarding = %q, want xclient", got)
	}
	if got := c.Destination["stalwart"].ForwardingFor(SMTP); got != ForwardProxy {
		t.Errorf("stalwart forwarding = %q, want proxy", got)
	}
	c, err = Load("../examples/cluster.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster == nil || len(c.Cluster.Nodes) != 3 || c.Cluster.Weights["node3"] != 2 {
		t.Errorf("cluster = %+v", c.Cluster)
	}
}
