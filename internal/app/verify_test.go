package app

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// signedJWT is an EdDSA (Ed25519) JWT with key id k1 and the claims.
func signedJWT(t *testing.T, key ed25519.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := enc([]byte(`{"alg":"EdDSA","kid":"k1","typ":"JWT"}`)) + "." + enc(body)
	return input + "." + enc(ed25519.Sign(key, []byte(input)))
}

// writeJWKS writes a JWKS with the Ed25519 public key as k1.
func writeJWKS(t *testing.T, pub ed25519.PublicKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	doc := fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":%q}]}`, base64.RawURLEncoding.EncodeToString(pub))
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEdgeVerification: with [oauth] verify, a bearer token that does not
// verify is refused at the proxy (HTTP 401, IMAP NO) and no backend sees
// it; a signed, unexpired one is routed by its account.
func TestEdgeVerification(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	jwks := writeJWKS(t, pub)
	oauth := fmt.Sprintf("[oauth]\nverify = true\njwks_file = %q\nissuer = \"https://idp.test\"\n", jwks)
	exp := time.Now().Add(time.Hour).Unix()
	good := signedJWT(t, key, map[string]any{"email": "alice@example.com", "iss": "https://idp.test", "exp": exp})
	expired := signedJWT(t, key, map[string]any{"email": "alice@example.com", "iss": "https://idp.test", "exp": time.Now().Add(-time.Hour).Unix()})
	_, other, _ := ed25519.GenerateKey(nil)
	forged := signedJWT(t, other, map[string]any{"email": "alice@example.com", "iss": "https://idp.test", "exp": exp})

	t.Run("http", func(t *testing.T) {
		f := startHTTPFixture(t, oauth)
		c := countingClient(new(atomic.Int32))
		for _, tok := range []string{forged, expired, "e30." + base64.RawURLEncoding.EncodeToString([]byte(`{"email":"alice@example.com"}`)) + "."} {
			if code, body := get(t, c, "http://"+f.web+"/jmap/api", "Bearer "+tok); code != 401 {
				t.Fatalf("bad token: %d %q", code, body)
			}
		}
		if code, body := get(t, c, "http://"+f.web+"/jmap/api", "Bearer "+good); code != 200 || !strings.HasPrefix(body, "new ") {
			t.Fatalf("good token: %d %q", code, body)
		}
	})

	t.Run("imap", func(t *testing.T) {
		// A backend that only counts who reaches it.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		var reached atomic.Int32
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				reached.Add(1)
				fmt.Fprint(c, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] counting\r\n")
				c.Close()
			}
		}()
		files := writeProxyFiles(t, "")
		plain := freeAddr(t)
		startApp(t, proxySpec{
			protocol: "imap", server: "health_check_interval = \"0s\"\n", files: files,
			listeners: []listenerSpec{{name: "plain", addr: plain, tls: "plain"}},
			old:       destSpec{forwarding: "none", port: portOf(ln.Addr().String())},
			new:       destSpec{forwarding: "none", port: portOf(ln.Addr().String())},
			mapping:   fileMapping(files.mapping, ""),
			caps:      "allow_plain_auth_without_tls = true\nsasl = [\"PLAIN\", \"OAUTHBEARER\"]\n" + oauth,
		}.toml())
		for _, tc := range []struct {
			tok     string
			reaches int32
		}{{forged, 0}, {expired, 0}, {good, 1}} {
			c := dial(t, plain)
			c.line()
			ir := base64.StdEncoding.EncodeToString([]byte("n,a=alice@example.com,\x01auth=Bearer " + tc.tok + "\x01\x01"))
			c.send("a AUTHENTICATE OAUTHBEARER " + ir + "\r\n")
			if _, l := c.until("a"); !strings.HasPrefix(l, "a NO") {
				t.Fatalf("OAUTHBEARER: %q", l) // the counting backend never says OK
			}
			if got := reached.Load(); got != tc.reaches {
				t.Fatalf("after a login with %.20s... the backend was reached %d times, want %d", tc.tok, got, tc.reaches)
			}
		}
	})
}
