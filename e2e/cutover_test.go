//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/admin"
	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
	"github.com/switchyard-mail/switchyard/internal/contract"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// stallRelay forwards TCP connections to a backend; while stalled, the
// backend's bytes to a connection opened meanwhile wait (its greeting
// too), so that a login through it stays in flight until Release.
type stallRelay struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	stall   chan struct{} // nil: not stalled; closed by Release
}

func startStallRelay(t *testing.T, backend string) *stallRelay {
	ln := testnet.Listen(t)
	r := &stallRelay{ln: ln, backend: backend}
	t.Cleanup(r.Release)
	testnet.Serve(ln, func(c net.Conn) { go r.serve(c) })
	return r
}

func (r *stallRelay) Port() int { return r.ln.Addr().(*net.TCPAddr).Port }

// Stall makes the connections opened from now on wait for Release.
func (r *stallRelay) Stall() {
	r.mu.Lock()
	r.stall = make(chan struct{})
	r.mu.Unlock()
}

// Release lets the stalled connections go on.
func (r *stallRelay) Release() {
	r.mu.Lock()
	if r.stall != nil {
		close(r.stall)
		r.stall = nil
	}
	r.mu.Unlock()
}

func (r *stallRelay) serve(c net.Conn) {
	defer c.Close()
	b, err := net.Dial("tcp", r.backend)
	if err != nil {
		return
	}
	defer b.Close()
	r.mu.Lock()
	wait := r.stall
	r.mu.Unlock()
	go func() { _, _ = io.Copy(b, c); b.(*net.TCPConn).CloseWrite() }()
	if wait != nil {
		<-wait
	}
	_, _ = io.Copy(c, b)
}

// adminAPI calls switchyard's /api/v1 and checks every answer against
// its OpenAPI document.
type adminAPI struct {
	t     *testing.T
	base  string
	token string
	hc    *http.Client
	spec  *contract.Spec
}

func (a *adminAPI) do(method, path, body string) (int, map[string]any) {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if err := a.spec.Check(method, req.URL.EscapedPath(), resp.StatusCode, resp.Header, raw); err != nil {
		a.t.Errorf("contract: %v", err)
	}
	var m map[string]any
	_ = json.NewDecoder(bytes.NewReader(raw)).Decode(&m)
	return resp.StatusCode, m
}

// TestCutover: an account idling in IMAP IDLE on the old Dovecot is cut
// over to the new one through the admin API: its session is kicked, it
// reconnects and lands on new; a login in flight when the cut-over began
// finishes first; a message sent over LMTP during the hold is deferred
// with 451 and, sent again after it, arrives exactly once, on new.
func TestCutover(t *testing.T) {
	harness.Gate(t)
	harness.RequireBinary(t, "dovecot")
	old := peers.StartDovecot(t, "old", peers.DovecotOptions{LMTP: true})
	nw := peers.StartDovecot(t, "new", peers.DovecotOptions{LMTP: true})
	relay := startStallRelay(t, old.IMAPAddr)
	cert, mapping := proxyCertMapping(t, "# identifier destination")
	token := strings.Repeat("c", 40)
	sy := harness.StartSwitchyardConfig(t, harness.SwitchyardConfig{
		Cert:           &cert,
		BackendTimeout: "30s",
		Listeners: []harness.SYListener{
			{ID: "imap", Protocol: "imap", TLS: "plain"},
			{ID: "lmtp", Protocol: "lmtp", TLS: "plain"},
		},
		Destinations: []harness.SYDestination{
			{ID: "old", Host: "127.0.0.1", Forwarding: "xclient", AllowPlaintextAuth: true, Endpoints: []harness.SYEndpoint{
				{Protocol: "imap", Port: relay.Port(), TLS: "plain"}, {Protocol: "lmtp", Port: port(t, old.LMTPAddr), TLS: "plain"}}},
			{ID: "new", Host: "127.0.0.1", Forwarding: "proxy", AllowPlaintextAuth: true, Endpoints: []harness.SYEndpoint{
				{Protocol: "imap", Port: port(t, nw.IMAPProxyAddr), TLS: "plain"}, {Protocol: "lmtp", Port: port(t, nw.LMTPProxyAddr), TLS: "plain"}}},
		},
		DefaultDestination:       "old",
		MappingFile:              mapping,
		AllowPlainAuthWithoutTLS: true,
		Extra:                    fmt.Sprintf("\n[admin]\nbind = %q\nbearer_token = %q\n", harness.AnyPort, token),
	})
	sy.LogOnFailure(t)
	imapAddr, lmtpAddr, adminAddr := sy.Addr(t, "imap"), sy.Addr(t, "lmtp"), sy.AdminAddr
	spec, err := contract.Load(admin.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	api := &adminAPI{t: t, base: "https://" + adminAddr, token: token, spec: spec,
		hc: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: cert.ClientTLS("mail.test")}}}

	// dave idles on old.
	idle := DialRaw(t, imapAddr, "")
	idle.Greeting()
	if _, l := idle.Command("a", "LOGIN dave@test "+Quote(peers.DefaultUsers["dave@test"])); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("LOGIN: %s", l)
	}
	if _, l := idle.Command("b", "SELECT INBOX"); !strings.HasPrefix(l, "b OK") {
		t.Fatalf("SELECT: %s", l)
	}
	idle.Write("c IDLE\r\n")
	if l := idle.ReadLine(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	if subj, err := IMAPSubject(imapAddr, "", "dave@test", peers.DefaultUsers["dave@test"]); err != nil || subj != peers.Marker("old") {
		t.Fatalf("dave before the cut-over: %q %v", subj, err)
	}

	// A second login of dave is in flight at old (the relay holds its
	// greeting) when the cut-over begins.
	relay.Stall()
	inflight := DialRaw(t, imapAddr, "")
	inflight.Greeting()
	inflight.Write("x LOGIN dave@test " + Quote(peers.DefaultUsers["dave@test"]) + "\r\n")
	if err := harness.Eventually(10*time.Second, func() error {
		if _, m := api.do("GET", "/api/v1/sessions?account=dave@test&state=login", ""); m["count"] != 1.0 {
			return fmt.Errorf("login not in flight: %v", m)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code int
		rep  map[string]any
	}
	done := make(chan result, 1)
	go func() {
		code, rep := api.do("POST", "/api/v1/accounts/dave@test/cutover", `{"destination":"new","max_hold":"30s"}`)
		done <- result{code, rep}
	}()
	if err := harness.Eventually(10*time.Second, func() error {
		if code, _ := api.do("GET", "/api/v1/holds/dave@test", ""); code != 200 {
			return fmt.Errorf("not held yet (%d)", code)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// During the hold, mail for dave is deferred.
	subject := uniqueSubject("cutover lmtp")
	res, err := PythonSMTP(t, SMTPSend{Addr: lmtpAddr, LMTP: true, To: []string{"dave@test"}, Subject: subject})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	if len(res.Transactions) != 1 {
		t.Fatalf("transactions: %+v", res.Transactions)
	}
	if r, _ := res.Transactions[0].RcptReply("dave@test"); !strings.HasPrefix(r, "451 ") {
		t.Fatalf("RCPT dave@test during the hold: %q, want 451", r)
	}

	// The login in flight finishes; the cut-over goes on.
	relay.Release()
	r := <-done
	if r.code != 200 {
		t.Fatalf("cut-over: %d %v", r.code, r.rep)
	}
	if r.rep["in_flight"] != 1.0 || r.rep["waited"] != 1.0 || r.rep["kicked"] != 2.0 {
		t.Fatalf("report: %v", r.rep)
	}
	// The idling session and the one that was in flight are kicked.
	idle.ExpectClosed(10 * time.Second)
	inflight.ExpectClosed(10 * time.Second)

	// dave reconnects and lands on new.
	if subj, err := IMAPSubject(imapAddr, "", "dave@test", peers.DefaultUsers["dave@test"]); err != nil || subj != peers.Marker("new") {
		t.Fatalf("dave after the cut-over: %q %v", subj, err)
	}
	// The sender retries: the message arrives once, on new.
	res, err = PythonSMTP(t, SMTPSend{Addr: lmtpAddr, LMTP: true, To: []string{"dave@test"}, Subject: subject})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	if r, _ := res.Transactions[0].RcptReply("dave@test"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("RCPT dave@test after the cut-over: %q", r)
	}
	ExpectCopies(t, subject, 10*time.Second, Copies{nw, "dave@test", 1}, Copies{old, "dave@test", 0})
}
