package app

import (
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testnet"
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

	// RFC 6750 lets a client put its token in the query (section 2.3)
	// or in a form body (2.2): a forged one there is refused at the
	// proxy too, over HTTP/1.1 and HTTP/2, and never reaches a backend,
	// even on a route that takes the account from the query.
	t.Run("query and form", func(t *testing.T) {
		f := startHTTPFixture(t, oauth)
		h1 := countingClient(new(atomic.Int32))
		h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			ForceAttemptHTTP2: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		}}
		for _, c := range []struct {
			name   string
			client *http.Client
			base   string
		}{{"HTTP/1.1", h1, "http://" + f.web}, {"HTTP/2", h2, "https://" + f.webTLS}} {
			send := func(method, path, contentType, body string) (int, string, string) {
				t.Helper()
				req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
				if contentType != "" {
					req.Header.Set("Content-Type", contentType)
				}
				resp, err := c.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if c.name == "HTTP/2" && resp.ProtoMajor != 2 {
					t.Fatalf("%s: spoke %s", c.name, resp.Proto)
				}
				return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
			}
			const form = "application/x-www-form-urlencoded"
			for _, tc := range []struct{ method, path, ct, body string }{
				{"GET", "/other?access_token=" + forged, "", ""},
				{"GET", "/other?account=alice%40example.com&access_token=" + expired, "", ""},
				{"GET", "/dav/x?x=1;access%5Ftoken=" + forged, "", ""},
				{"POST", "/other", form, "a=1&access_token=" + forged},
				{"POST", "/other?account=alice%40example.com", form + "; charset=utf-8", "access_token=" + expired},
			} {
				before := f.requests.Load()
				code, challenge, body := send(tc.method, tc.path, tc.ct, tc.body)
				if code != 401 || challenge != `Bearer error="invalid_token"` {
					t.Fatalf("%s %s %s %q: %d %q %q", c.name, tc.method, tc.path, tc.body, code, challenge, body)
				}
				if n := f.requests.Load() - before; n != 0 {
					t.Fatalf("%s %s %s: the backend saw %d requests", c.name, tc.method, tc.path, n)
				}
			}
			// A verified token passes, in either place, and the route by
			// ?account= still works.
			if code, _, body := send("GET", "/other?account=alice%40example.com&access_token="+good, "", ""); code != 200 || !strings.HasPrefix(body, "new GET /other") {
				t.Fatalf("%s: good token in the query: %d %q", c.name, code, body)
			}
			if code, _, body := send("POST", "/other", form, "access_token="+good); code != 200 || !strings.HasPrefix(body, "old POST /other") || !strings.Contains(body, "body=") {
				t.Fatalf("%s: good token in a form: %d %q", c.name, code, body)
			}
		}
	})

	t.Run("imap", func(t *testing.T) {
		// A backend that only counts who reaches it.
		counting := testnet.StartGreeter(t, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] counting\r\n")
		files := writeProxyFiles(t, "")
		a := startApp(t, proxySpec{
			protocol: "imap", server: "health_check_interval = \"0s\"\n", files: files,
			listeners: []listenerSpec{{name: "plain", tls: "plain"}},
			old:       destSpec{forwarding: "none", port: portOf(counting.Addr)},
			new:       destSpec{forwarding: "none", port: portOf(counting.Addr)},
			mapping:   fileMapping(files.mapping, ""),
			caps:      "allow_plain_auth_without_tls = true\nsasl = [\"PLAIN\", \"OAUTHBEARER\"]\n" + oauth,
		}.toml())
		plain := addrOf(t, a, "plain")
		for _, tc := range []struct {
			tok     string
			reaches int64
		}{{forged, 0}, {expired, 0}, {good, 1}} {
			c := dialGreeted(t, plain)
			ir := base64.StdEncoding.EncodeToString([]byte("n,a=alice@example.com,\x01auth=Bearer " + tc.tok + "\x01\x01"))
			c.send("a AUTHENTICATE OAUTHBEARER " + ir + "\r\n")
			if _, l := c.until("a"); !strings.HasPrefix(l, "a NO") {
				t.Fatalf("OAUTHBEARER: %q", l) // the counting backend never says OK
			}
			if got := counting.Count(); got != tc.reaches {
				t.Fatalf("after a login with %.20s... the backend was reached %d times, want %d", tc.tok, got, tc.reaches)
			}
		}
	})
}
