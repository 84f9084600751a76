package app

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/bench/mocksieve"
)

type sieveFixture struct {
	old, new                 *mocksieve.Server
	plain, starttls, proxied string
}

// startSieveFixture: the proxy in front of two mock ManageSieve backends,
// "old" (default, XCLIENT) and "new" (PROXY v2); alice is mapped to new.
func startSieveFixture(t *testing.T) *sieveFixture {
	t.Helper()
	f := &sieveFixture{}
	f.old = listenMock(t, func() (*mocksieve.Server, error) {
		return mocksieve.Listen("127.0.0.1:0", mocksieve.Config{Name: "old", Users: pop3Users, XClient: true})
	})
	f.new = listenMock(t, func() (*mocksieve.Server, error) {
		return mocksieve.Listen("127.0.0.1:0", mocksieve.Config{Name: "new", Users: pop3Users, AcceptProxyHeader: true})
	})
	files := writeProxyFiles(t, "alice@example.com new\n")
	a := startApp(t, proxySpec{
		protocol: "managesieve",
		files:    files,
		listeners: []listenerSpec{
			{name: "plain", tls: "plain"},
			starttlsListener,
			proxiedListener,
		},
		old:     xclientTo(f.old),
		new:     proxyTo(f.new),
		mapping: fileMapping(files.mapping, ""),
		caps:    "allow_plain_auth_without_tls = true\nsasl = [\"PLAIN\", \"LOGIN\"]\n",
	}.toml())
	f.plain, f.starttls, f.proxied = addrOf(t, a, "plain"), addrOf(t, a, "starttls"), addrOf(t, a, "proxied")
	return f
}

// sieveGreeting reads a capability block up to its OK line.
func (c *client) sieveGreeting() []string {
	c.t.Helper()
	var caps []string
	for {
		l := c.line()
		if strings.HasPrefix(l, "OK") {
			return caps
		}
		if strings.HasPrefix(l, "NO") || strings.HasPrefix(l, "BYE") {
			c.t.Fatalf("greeting: %q", l)
		}
		caps = append(caps, l)
	}
}

// sieveMarker lists the scripts of an authenticated session and returns
// the backend named by the marker script.
func (c *client) sieveMarker() string {
	c.t.Helper()
	c.send("LISTSCRIPTS\r\n")
	l := c.expect(`"marker-`)
	c.expect("OK")
	return strings.TrimSuffix(strings.TrimPrefix(strings.Fields(l)[0], `"marker-`), `"`)
}

func TestSieveRoutingAndForwarding(t *testing.T) {
	f := startSieveFixture(t)
	for _, tc := range []struct{ user, pass, backend string }{
		{"alice@example.com", "pw-alice", "new"},
		{"bob@example.com", "pw-bob", "old"},
	} {
		c := dial(t, f.plain)
		c.sieveGreeting()
		c.send(`AUTHENTICATE "PLAIN" "` + plainB64(tc.user, tc.pass) + "\"\r\n")
		c.expect(`OK "Logged in."`)
		if got := c.sieveMarker(); got != tc.backend {
			t.Fatalf("%s landed on %q", tc.user, got)
		}
	}
	for _, tc := range []struct{ user, pass, backend, claim string }{
		{"bob@example.com", "pw-bob", "old", "203.0.113.9"},
		{"alice@example.com", "pw-alice", "new", "203.0.113.10"},
	} {
		c := dial(t, f.proxied)
		c.send(fmt.Sprintf("PROXY TCP4 %s 127.0.0.1 40000 4190\r\n", tc.claim))
		c.sieveGreeting()
		// A literal initial response, and a multi-step LOGIN.
		ir := plainB64(tc.user, tc.pass)
		c.send(fmt.Sprintf("AUTHENTICATE \"PLAIN\" {%d+}\r\n%s\r\n", len(ir), ir))
		c.expect(`OK "Logged in."`)
		if got := c.sieveMarker(); got != tc.backend {
			t.Fatalf("%s landed on %q", tc.user, got)
		}
		srv := map[string]*mocksieve.Server{"old": f.old, "new": f.new}[tc.backend]
		if a := srv.LastClientAddr(tc.user); a != tc.claim+":40000" {
			t.Fatalf("%s saw %s from %q", tc.backend, tc.user, a)
		}
	}
}

func plainB64(user, pass string) string {
	return b64("\x00" + user + "\x00" + pass)
}

func TestSieveSASLAndRefusals(t *testing.T) {
	f := startSieveFixture(t)
	c := dial(t, f.plain)
	c.sieveGreeting()
	c.send("AUTHENTICATE \"LOGIN\"\r\n")
	c.expect(`"VXNlcm5hbWU6"`)
	c.send(`"` + b64("bob@example.com") + "\"\r\n")
	c.expect(`"UGFzc3dvcmQ6"`)
	c.send(`"` + b64("wrong") + "\"\r\nLISTSCRIPTS\r\n")
	c.expect(`NO "Authentication failed."`)
	c.expect(`NO "Not authenticated."`) // switchyard's answer: not bridged
	c.send("AUTHENTICATE \"PLAIN\"\r\n")
	c.expect(`""`)
	c.send("\"*\"\r\n")
	c.expect(`NO "Authentication aborted."`)
	c.send("NOOP \"tag-1\"\r\n")
	c.expect(`OK (TAG "tag-1")`)
	c.send(`AUTHENTICATE "PLAIN" "` + plainB64("bob@example.com", "pw-bob") + "\"\r\n")
	c.expect(`OK "Logged in."`)
	if got := c.sieveMarker(); got != "old" {
		t.Fatalf("landed on %q", got)
	}
	// STARTTLS, then a fresh capability block.
	c = dial(t, f.starttls)
	if caps := strings.Join(c.sieveGreeting(), "\n"); !strings.Contains(caps, `"STARTTLS"`) {
		t.Fatalf("no STARTTLS in %q", caps)
	}
	c.send("STARTTLS\r\n")
	c.expect("OK")
	c.upgradeTLS()
	if caps := strings.Join(c.sieveGreeting(), "\n"); strings.Contains(caps, `"STARTTLS"`) || !strings.Contains(caps, `"SASL" "PLAIN LOGIN"`) {
		t.Fatalf("capabilities after TLS: %q", caps)
	}
	c.send(`AUTHENTICATE "PLAIN" "` + plainB64("alice@example.com", "pw-alice") + "\"\r\n")
	c.expect(`OK "Logged in."`)
	if got := c.sieveMarker(); got != "new" {
		t.Fatalf("landed on %q", got)
	}
	// A stopped backend is a temporary failure.
	f.new.Close()
	c = dial(t, f.plain)
	c.sieveGreeting()
	c.send(`AUTHENTICATE "PLAIN" "` + plainB64("alice@example.com", "pw-alice") + "\"\r\n")
	c.expect(`NO (TRYLATER)`)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
