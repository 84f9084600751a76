package config

import (
	"strings"
	"testing"
	"time"
)

// newerAdmin is the [admin] part of the keys the reference added in its
// newer releases (the others go into baseDoc's tables).
const newerAdmin = `
[admin]
bind = "127.0.0.1:0"
bearer_token_file = "TOKEN"
config_write = false

[admin.allow]
listener_ports = [993, 587]
destination_ports = [143, 587, 993]
destination_hosts = ["*.internal", "10.0.0.0/8"]
`

func TestNewerReleaseKeys(t *testing.T) {
	defer func(was bool) { Implemented.Admin = was }(Implemented.Admin)
	Implemented.Admin = true
	f := newFixture(t)
	// Tables of baseDoc are extended, not redeclared: merge by hand.
	doc := f.expand(baseDoc)
	doc = strings.Replace(doc, "[server]\n", "[server]\nhost_down_min_clients = 3\nbackend_connect_retries = 2\n", 1)
	doc = strings.Replace(doc, "[destination.old]\n", "[destination.old]\ndns_cache_ttl = \"5m\"\nsource_ips = [\"127.0.0.1\"]\n", 1)
	doc = strings.Replace(doc, "[destination.new]\n", "[destination.new]\ndns_cache_ttl = \"0s\"\n", 1)
	doc += f.expand(newerAdmin)
	c := mustParse(t, doc)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.Server.HostDownMinClients != 3 || c.Server.BackendConnectRetries != 2 {
		t.Errorf("server = %+v", c.Server)
	}
	if c.Destination["old"].DNSCacheTTL.D() != 5*time.Minute || c.Destination["new"].DNSCacheTTL != 0 {
		t.Errorf("dns_cache_ttl: old %v, new %v", c.Destination["old"].DNSCacheTTL, c.Destination["new"].DNSCacheTTL)
	}
	if c.Admin.CanWriteConfig() {
		t.Error("config_write = false: CanWriteConfig is true")
	}
	// Both destinations fit the hosts (old.internal, 10.0.0.2) and ports.
	if ok, why := c.Admin.Allow.AllowsConfig(c); ok {
		// listener_ports has 993 and 587 but the submission listener
		// binds 10587: refused.
		t.Errorf("AllowsConfig accepted listeners on 10993/10587")
	} else if !strings.Contains(why, "listener.imaps.bind: port 10993 is not in admin.allow.listener_ports") {
		t.Errorf("why = %q", why)
	}
	if ok, why := c.Admin.Allow.AllowsDestination(c.Destination["old"]); !ok {
		t.Errorf("old refused: %s", why)
	}
}

func TestDefaultsOfNewerKeys(t *testing.T) {
	c := Default()
	if c.Server.HostDownMinClients != 1 || c.Server.BackendConnectRetries != 1 {
		t.Errorf("server defaults = %+v", c.Server)
	}
	if d := NewDestination(); d.DNSCacheTTL.D() != time.Minute {
		t.Errorf("dns_cache_ttl default = %v", d.DNSCacheTTL)
	}
	if !NewAdmin().CanWriteConfig() {
		t.Error("config_write defaults to false")
	}
}

func TestNewerKeysRefused(t *testing.T) {
	defer func(was bool) { Implemented.Admin = was }(Implemented.Admin)
	Implemented.Admin = true
	f := newFixture(t)
	admin := "[admin]\nbind = \"127.0.0.1:0\"\nbearer_token_file = \"TOKEN\"\n"
	cases := []struct {
		name, edit string
		want       string
	}{
		{"min clients", "", "server.host_down_min_clients: 0 must be at least 1"},
		{"negative ttl", "", `destination.old.dns_cache_ttl: duration "-1s" must not be negative`},
		{"port", admin + "[admin.allow]\nlistener_ports = [0]\n", "admin.allow.listener_ports[0]: 0 is not a port number (1-65535)"},
		{"dest port", admin + "[admin.allow]\ndestination_ports = [70000]\n", "admin.allow.destination_ports[0]: 70000 is not a port number"},
		{"host", admin + "[admin.allow]\ndestination_hosts = [\"*.*.x\"]\n", `admin.allow.destination_hosts[0]: "*.*.x" is not a host name, *.domain, IP address or CIDR network`},
		{"list placeholders", "[mapping.sql]\nurl = \"postgres://u@h/db\"\nlist_query = \"SELECT identifier, destination FROM m ORDER BY identifier\"\n",
			"mapping.sql.list_query: takes the cursor, optionally a search pattern, and the page size ($1, $2[, $3]): found 0 placeholder(s)"},
		{"count placeholders", "[mapping.sql]\nurl = \"mysql://u@h/db\"\ncount_query = \"SELECT destination, COUNT(*) FROM m WHERE x = ? GROUP BY destination\"\n",
			"mapping.sql.count_query: takes no parameter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := f.expand(baseDoc)
			switch tc.name {
			case "min clients":
				doc = strings.Replace(doc, "[server]\n", "[server]\nhost_down_min_clients = 0\n", 1)
			case "negative ttl":
				doc = strings.Replace(doc, "[destination.old]\n", "[destination.old]\ndns_cache_ttl = \"-1s\"\n", 1)
			case "list placeholders":
				doc = strings.Replace(doc, "source = \"file\"", "source = \"postgresql\"", 1)
			case "count placeholders":
				doc = strings.Replace(doc, "source = \"file\"", "source = \"mysql\"", 1)
			}
			doc += f.expand(tc.edit)
			c, err := Parse([]byte(doc), "test.toml")
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
		})
	}
}

func TestHostPattern(t *testing.T) {
	cases := []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"mail.example.com", []string{"mail.example.com", "MAIL.example.com", "mail.example.com."}, []string{"x.mail.example.com", "example.com"}},
		{"*.example.com", []string{"a.example.com", "a.b.example.com"}, []string{"example.com", "aexample.com"}},
		{"10.0.0.0/8", []string{"10.1.2.3", "::ffff:10.0.0.1"}, []string{"11.0.0.1", "ten.internal"}},
		{"2001:db8::1", []string{"2001:db8::1", "[2001:db8::1]"}, []string{"2001:db8::2"}},
	}
	for _, tc := range cases {
		p, err := ParseHostPattern(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		for _, h := range tc.match {
			if !p.Match(h) {
				t.Errorf("%s does not match %s", tc.pattern, h)
			}
		}
		for _, h := range tc.miss {
			if p.Match(h) {
				t.Errorf("%s matches %s", tc.pattern, h)
			}
		}
	}
	d := Destination{Host: "new.internal", Protocol: map[Protocol]Endpoint{IMAP: {Port: 993}, POP3: {Port: 995}}}
	allow := &AdminAllow{DestinationPorts: []int{993}}
	if ok, why := allow.AllowsDestination(d); ok || why != "port 995 (pop3) is not in admin.allow.destination_ports" {
		t.Errorf("AllowsDestination = %v, %q", ok, why)
	}
	allow = &AdminAllow{DestinationHosts: []string{"*.example.com"}}
	if ok, why := allow.AllowsDestination(d); ok || why != `host "new.internal" is not in admin.allow.destination_hosts` {
		t.Errorf("AllowsDestination = %v, %q", ok, why)
	}
	if ok, _ := (*AdminAllow)(nil).AllowsDestination(d); !ok {
		t.Error("no [admin.allow] refused a destination")
	}
}

func TestAdminOnlyConfig(t *testing.T) {
	defer func(was bool) { Implemented.Admin = was }(Implemented.Admin)
	Implemented.Admin = true
	f := newFixture(t)
	doc := f.expand("[tls.certificate.admin]\ncert = \"CERT\"\nkey = \"KEY\"\n[admin]\nbind = \"127.0.0.1:9443\"\nbearer_token_file = \"TOKEN\"\n")
	if err := mustParse(t, doc).Validate(); err != nil {
		t.Fatalf("admin only: %v", err)
	}
	if err := Default().Validate(); err == nil || !strings.Contains(err.Error(), "listener: no [listener.<id>] and no [admin]: there is nothing to serve") {
		t.Fatalf("empty: %v", err)
	}
	withMapping := doc + f.expand("[mapping]\nsource = \"file\"\n[mapping.file]\npath = \"MAPPING\"\n")
	if err := mustParse(t, withMapping).Validate(); err == nil || !strings.Contains(err.Error(), "routing.default_destination: is required") {
		t.Fatalf("a mapping store without a default destination: %v", err)
	}
}
