//go:build linux

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
)

// TestHarnessDovecot checks the harness itself against Dovecot directly,
// without switchyard: the generated configuration works, every client
// driver logs in and reads the marker, and Dovecot logs the client address
// it was told about through a PROXY header (v1 and v2), through ID
// x-originating-ip, and the real source address otherwise.
func TestHarnessDovecot(t *testing.T) {
	harness.Gate(t)
	dTLS := peers.StartDovecot(t, "tls", peers.DovecotOptions{TLS: true, POP3: true, ManageSieve: true, LMTP: true})
	dPlain := peers.StartDovecot(t, "plain", peers.DovecotOptions{})

	t.Run("drivers", func(t *testing.T) {
		type tc struct {
			d    *peers.Dovecot
			addr string
			tls  string
			auth string
		}
		cases := []tc{
			{dPlain, dPlain.IMAPAddr, "plain", "login"},
			{dPlain, dPlain.IMAPAddr, "plain", "plain"},
			{dTLS, dTLS.IMAPAddr, "starttls", "login"},
			{dTLS, dTLS.IMAPAddr, "starttls", "plain"},
			{dTLS, dTLS.IMAPSAddr, "implicit", "login"},
			{dTLS, dTLS.IMAPSAddr, "implicit", "plain"},
			{dPlain, dPlain.IMAPAddr, "plain", "sasl-login"},
		}
		for _, drv := range IMAPDrivers {
			for _, c := range cases {
				c := c
				drv := drv
				o := IMAPLogin{Addr: c.addr, User: "alice@test", Password: peers.DefaultUsers["alice@test"], TLS: c.tls, Auth: c.auth}
				if !drv.Supports(o) {
					continue
				}
				t.Run(drv.Name+"/"+c.d.Name+"/"+c.tls+"/"+c.auth, func(t *testing.T) {
					res, err := drv.Run(t, o)
					ExpectMarker(t, res, err, c.d.Name)
				})
			}
		}
	})

	t.Run("wrong-password", func(t *testing.T) {
		// Dovecot delays auth requests from an address that failed before
		// (auth penalty): give each client its own source when it can.
		for i, drv := range IMAPDrivers {
			drv := drv
			o := IMAPLogin{Addr: dPlain.IMAPAddr, User: "bob@test", Password: "wrong", Auth: "plain", Source: fmt.Sprintf("127.0.0.%d", 20+i)}
			if !drv.Supports(o) {
				o.Source = ""
			}
			t.Run(drv.Name, func(t *testing.T) {
				mark := dPlain.Mark()
				_, err := drv.Run(t, o)
				if err == nil {
					t.Fatal("a wrong password was accepted")
				}
				dPlain.AssertNoLogin(t, mark, "bob@test")
			})
		}
	})

	t.Run("source-address", func(t *testing.T) {
		mark := dPlain.Mark()
		res, err := PythonIMAP(t, IMAPLogin{Addr: dPlain.IMAPAddr, User: "bob@test", Password: peers.DefaultUsers["bob@test"], Source: "127.0.0.7"})
		ExpectMarker(t, res, err, "plain")
		dPlain.AssertLoginRIP(t, mark, "bob@test", "127.0.0.7")

		mark = dPlain.Mark()
		res, err = CurlIMAP(t, IMAPLogin{Addr: dPlain.IMAPAddr, User: "carol@test", Password: peers.DefaultUsers["carol@test"], Source: "127.0.0.8", Auth: "plain"})
		ExpectMarker(t, res, err, "plain")
		dPlain.AssertLoginRIP(t, mark, "carol@test", "127.0.0.8")
	})

	t.Run("id-x-originating-ip", func(t *testing.T) {
		mark := dPlain.Mark()
		c := DialRaw(t, dPlain.IMAPAddr, "")
		c.Greeting()
		_, tagged := c.Command("a1", `ID ("x-originating-ip" "192.0.2.44" "x-originating-port" "40000")`)
		if !strings.HasPrefix(tagged, "a1 OK") {
			t.Fatalf("ID: %q", tagged)
		}
		_, tagged = c.Command("a2", "LOGIN "+Quote("dave@test")+" "+Quote(peers.DefaultUsers["dave@test"]))
		if !strings.HasPrefix(tagged, "a2 OK") {
			t.Fatalf("LOGIN: %q", tagged)
		}
		c.Command("a3", "LOGOUT")
		dPlain.AssertLoginRIP(t, mark, "dave@test", "192.0.2.44")
	})

	for _, v := range []string{"v1", "v2"} {
		v := v
		t.Run("proxy-header-"+v, func(t *testing.T) {
			for _, d := range []*peers.Dovecot{dPlain, dTLS} {
				mark := d.Mark()
				c := DialRaw(t, d.IMAPProxyAddr, "")
				if v == "v1" {
					c.Write(ProxyV1Header("203.0.113.9:51234", d.IMAPProxyAddr))
				} else {
					c.Write(string(ProxyV2Header("203.0.113.10:51234", d.IMAPProxyAddr)))
				}
				c.Greeting()
				_, tagged := c.Command("a1", "LOGIN "+Quote("alice@test")+" "+Quote(peers.DefaultUsers["alice@test"]))
				if !strings.HasPrefix(tagged, "a1 OK") {
					t.Fatalf("%s: LOGIN: %q", d.Name, tagged)
				}
				c.Command("a2", "LOGOUT")
				want := map[string]string{"v1": "203.0.113.9", "v2": "203.0.113.10"}[v]
				d.AssertLoginRIP(t, mark, "alice@test", want)
			}
		})
	}

	t.Run("proxy-listener-requires-header", func(t *testing.T) {
		c := DialRaw(t, dPlain.IMAPProxyAddr, "")
		c.Write("a1 CAPABILITY\r\n")
		lines := c.ExpectClosed(10 * time.Second)
		for _, l := range lines {
			if strings.HasPrefix(l, "* OK") || strings.HasPrefix(l, "a1 OK") {
				t.Fatalf("a haproxy=yes listener served a client without a PROXY header: %q", lines)
			}
		}
	})

	t.Run("other-listeners", func(t *testing.T) {
		for name, addr := range map[string]string{"pop3": dTLS.POP3Addr, "pop3-proxy": dTLS.POP3ProxyAddr, "sieve": dTLS.SieveAddr, "lmtp": dTLS.LMTPAddr} {
			if err := harness.WaitPort(addr, 2*time.Second); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		c := DialRaw(t, dTLS.POP3Addr, "")
		if g := c.ReadLine(); !strings.HasPrefix(g, "+OK") {
			t.Errorf("pop3 greeting %q", g)
		}
	})

	t.Run("stop-restart", func(t *testing.T) {
		dPlain.Stop(t) // returns once the process has exited and its IMAP port refuses
		if dPlain.Proc.Running() {
			t.Fatal("stopped dovecot still runs")
		}
		dPlain.Restart(t)
		res, err := PythonIMAP(t, IMAPLogin{Addr: dPlain.IMAPAddr, User: "bob@test", Password: peers.DefaultUsers["bob@test"]})
		ExpectMarker(t, res, err, "plain")
	})
}
