package app

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/bench/mockpop3"
	"github.com/switchyard-mail/switchyard/bench/mocksieve"
	"github.com/switchyard-mail/switchyard/bench/mocksmtp"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// The hostile-client suite (issue 13): one test per way the engine was
// broken, each driving the whole proxy the way an attacker would. They
// assert what users see (nobody gets another session's bytes, memory stays
// bounded, others are still served), never timings.

// hostileConfig is a proxy with the fixture certificate and listeners
// (whole sections) in front of one plaintext destination "d" of proto on
// port. server is further lines of the [server] section, extra of the
// file.
func hostileConfig(files proxyFiles, server, listeners, proto string, port int, extra string) string {
	return "\n[server]\nhealth_check_interval = \"0s\"\n" + server + files.certSection() + listeners +
		destSection("d", "forwarding = \"none\"\nallow_plaintext_auth = true\n", proto, strconv.Itoa(port), "plain") +
		"[routing]\ndefault_destination = \"d\"\n" + extra
}

// hostileProxy starts a proxy with one plaintext listener "l" of proto in
// front of one destination "d" on port, and returns the App and the
// listener's address. listener and extra are further lines of the
// listener's section and of the file.
func hostileProxy(t *testing.T, proto string, port int, listener, extra string) (*App, string) {
	t.Helper()
	files := writeProxyFiles(t, "")
	a := startApp(t, hostileConfig(files, "backend_timeout = \"3s\"\n", listenerSection("l", proto, "plain", listener+"\n"), proto, port, extra))
	return a, a.Addrs("l")[0]
}

// hostileHTTPS starts a proxy whose http listener "web" takes implicit
// TLS, in front of a plaintext HTTP backend on port; server is further
// lines of the [server] section.
func hostileHTTPS(t *testing.T, port int, server string) *App {
	t.Helper()
	files := writeProxyFiles(t, "")
	return startApp(t, hostileConfig(files, server+"\n", listenerSection("web", "http", "implicit", ""), "http", port, ""))
}

func mockPort(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// rss is the process's resident set, in bytes, after giving back to the
// OS what the heap does not use.
func rss(t *testing.T) int64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// Item 1: a client pipelines commands, does not read, and logs in; its
// backend accepts and at once says BYE and closes. Meanwhile others log
// in. When the attacker finally reads, no session may be joined to a
// socket of someone else: the others never see the attacker's pipelined
// command, and keep their own mailbox.
func TestHostileVerdictNeverJoinsAnotherSession(t *testing.T) {
	users := map[string]string{"mallory": "pw"}
	for i := 0; i < 16; i++ {
		users[fmt.Sprint("user", i)] = "pw"
	}
	b := listenMock(t, func() (*mockimap.Server, error) {
		return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "only", Users: users, ByeAfterLogin: map[string]bool{"mallory": true}})
	})
	_, addr := hostileProxy(t, "imap", mockPort(b.Addr()), `preauth_timeout = "60s"`, "[capabilities.imap]\nallow_plain_auth_without_tls = true\n")
	for round := 0; round < 3; round++ {
		attacker := testnet.DialSmallReceiveBuffer(t, addr)
		var p strings.Builder
		for i := 0; i < 40000; i++ { // about 6 MB of answers: more than the kernel holds
			p.WriteString("x CAPABILITY\r\n")
		}
		p.WriteString("a LOGIN mallory pw\r\nEVIL" + fmt.Sprint(round) + " NOOP\r\n")
		go func() { _, _ = io.WriteString(attacker, p.String()) }()
		time.Sleep(300 * time.Millisecond) // the backend said OK, BYE and closed by now (on the old engine)

		var legit []*client
		for i := 0; i < 8; i++ {
			c := dialGreeted(t, addr)
			user := fmt.Sprint("user", round*4+i%4)
			if i >= 4 {
				user = fmt.Sprint("user", 8+round*2+i%2)
			}
			if got := c.landedOn(user, "pw"); got != "only" {
				t.Fatalf("%s landed on %q", user, got)
			}
			legit = append(legit, c)
		}
		// The attacker reads now: output drains, and whatever the proxy
		// does with its session happens while the others are connected.
		_ = attacker.SetReadDeadline(time.Now().Add(20 * time.Second))
		got, _ := io.ReadAll(attacker)
		if strings.Contains(string(got), "you are on") {
			t.Fatal("the attacker read another user's mailbox")
		}
		time.Sleep(600 * time.Millisecond) // a few sweeps of the old engine
		for i, c := range legit {
			_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
			c.send("z NOOP\r\n")
			lines, last := c.until("z")
			for _, l := range append(lines, last) {
				if strings.Contains(l, "EVIL") || strings.Contains(l, "CAPABILITY") {
					t.Fatalf("client %d got another session's bytes: %q", i, l)
				}
			}
			if !strings.HasPrefix(last, "z OK") {
				t.Fatalf("client %d: NOOP answered %q", i, last)
			}
		}
	}
}

// pipelineWithoutReading writes cmd over and over (up to total bytes) on
// a connection that never reads, until the proxy stops taking them.
func pipelineWithoutReading(t *testing.T, addr, cmd string, total int) int {
	t.Helper()
	c := testnet.DialSmallReceiveBuffer(t, addr)
	chunk := []byte(strings.Repeat(cmd, 64<<10/len(cmd)))
	sent := 0
	for sent < total {
		_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Write(chunk)
		sent += n
		if err != nil {
			break
		}
	}
	return sent
}

// Item 5: clients that pipeline commands and never read, on every login
// protocol and on the SMTP relay: the proxy's memory stays bounded (it
// stops reading them), and it goes on serving others.
func TestHostileNonReadingClients(t *testing.T) {
	pop := listenMock(t, func() (*mockpop3.Server, error) { return mockpop3.Listen("127.0.0.1:0", mockpop3.Config{Name: "p"}) })
	sieve := listenMock(t, func() (*mocksieve.Server, error) { return mocksieve.Listen("127.0.0.1:0", mocksieve.Config{Name: "s"}) })
	imap := listenMock(t, func() (*mockimap.Server, error) { return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "i"}) })
	sub := listenMock(t, func() (*mocksmtp.Server, error) { return mocksmtp.Listen("127.0.0.1:0", mocksmtp.Config{Name: "m"}) })
	lmtp := listenMock(t, func() (*mocksmtp.Server, error) {
		return mocksmtp.Listen("127.0.0.1:0", mocksmtp.Config{Name: "l", LMTP: true, NoAuth: true, Recipients: []string{"a@example.com"}})
	})
	for _, tc := range []struct {
		proto, cmd, greeting string
		port                 int
	}{
		{"imap", "x CAPABILITY\r\n", "* OK", mockPort(imap.Addr())},
		{"pop3", "CAPA\r\n", "+OK", mockPort(pop.Addr())},
		{"managesieve", "CAPABILITY\r\n", "\"IMPLEMENTATION\"", mockPort(sieve.Addr())},
		{"submission", "EHLO client.example\r\n", "220", mockPort(sub.Addr())},
		{"lmtp", "NOOP\r\n", "220", mockPort(lmtp.Addr())},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			_, addr := hostileProxy(t, tc.proto, tc.port, `preauth_timeout = "60s"`, "")
			before := rss(t)
			sent := pipelineWithoutReading(t, addr, tc.cmd, 16<<20)
			grew := rss(t) - before
			t.Logf("%s: the client sent %d bytes; resident memory grew by %d", tc.proto, sent, grew)
			if grew > 48<<20 {
				t.Fatalf("resident memory grew by %d bytes for one client that never read", grew)
			}
			if sent >= 16<<20 {
				t.Fatalf("the proxy took all %d bytes: nothing pushed back", sent)
			}
			c := dial(t, addr)
			if l := c.line(); !strings.HasPrefix(l, tc.greeting) {
				t.Fatalf("another client got %q", l)
			}
		})
	}
}

// Item 5, HTTP: a 200 MB response to a client that does not read. The
// proxy stops reading the backend instead of buffering it, and once the
// client reads, every byte arrives.
func TestHostileNonReadingHTTPDownload(t *testing.T) {
	const size = 200 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'a' + byte(i%26)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, addr := hostileProxy(t, "http", mockPort(ln.Addr().String()), "", "")
	before := rss(t)
	c := testnet.DialSmallReceiveBuffer(t, addr)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(2 * time.Second) // the backend writes as fast as anyone lets it
	grew := rss(t) - before
	t.Logf("resident memory grew by %d bytes while the client did not read", grew)
	if grew > 48<<20 {
		t.Fatalf("resident memory grew by %d bytes for a client that does not read a 200 MB response", grew)
	}
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReaderSize(c, 256<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != size {
		t.Fatalf("read %d of %d bytes: %v", n, size, err)
	}
}

// dripUntilClosed sends prefix, then one byte of body every interval,
// and reports whether the server closed the connection before the bytes
// ran out (what it answered is returned too).
func dripUntilClosed(t *testing.T, addr, prefix, body string, interval time.Duration) (bool, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got strings.Builder
	var mu sync.Mutex
	closed := make(chan struct{})
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := c.Read(b)
			mu.Lock()
			got.Write(b[:n])
			mu.Unlock()
			if err != nil {
				close(closed)
				return
			}
		}
	}()
	io.WriteString(c, prefix)
	for i := 0; i < len(body); i++ {
		select {
		case <-closed:
			mu.Lock()
			defer mu.Unlock()
			return true, got.String()
		case <-time.After(interval):
		}
		if _, err := c.Write([]byte{body[i]}); err != nil {
			break
		}
	}
	select {
	case <-closed:
		mu.Lock()
		defer mu.Unlock()
		return true, got.String()
	case <-time.After(time.Second):
		return false, ""
	}
}

// Item 6: slowloris. A request head or an SMTP command sent one byte at
// a time never completes; its deadline is absolute, so the connection is
// cut long before the bytes run out.
func TestHostileSlowloris(t *testing.T) {
	t.Run("http head", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		_, addr := hostileProxy(t, "http", mockPort(ln.Addr().String()), "", "[http]\nkeepalive_timeout = \"1s\"\n")
		closed, _ := dripUntilClosed(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ", strings.Repeat("a", 150), 100*time.Millisecond)
		if !closed {
			t.Fatal("a request head dripped for 15 s was never cut (keepalive_timeout 1s)")
		}
	})
	t.Run("smtp command", func(t *testing.T) {
		lmtp := listenMock(t, func() (*mocksmtp.Server, error) {
			return mocksmtp.Listen("127.0.0.1:0", mocksmtp.Config{Name: "l", LMTP: true, NoAuth: true, Recipients: []string{"a@example.com"}})
		})
		_, addr := hostileProxy(t, "lmtp", mockPort(lmtp.Addr()), `command_timeout = "1s"`, "")
		closed, got := dripUntilClosed(t, addr, "", "NOOP "+strings.Repeat("x", 150), 100*time.Millisecond)
		if !closed {
			t.Fatal("an SMTP command dripped for 15 s was never cut (command_timeout 1s)")
		}
		if !strings.Contains(got, "421") {
			t.Fatalf("cut without a 421: %q", got)
		}
	})
}

// Item 7: a cap on connections per client address, bridged sessions
// included; other addresses are served.
func TestHostilePerAddressCap(t *testing.T) {
	users := map[string]string{"a": "pw", "b": "pw", "c": "pw"}
	b := listenMock(t, func() (*mockimap.Server, error) {
		return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "only", Users: users})
	})
	a, addr := hostileProxy(t, "imap", mockPort(b.Addr()), "max_connections_per_ip = 2", "[capabilities.imap]\nallow_plain_auth_without_tls = true\n")
	for _, u := range []string{"a", "b"} {
		c := dialGreeted(t, addr)
		if got := c.landedOn(u, "pw"); got != "only" {
			t.Fatalf("%s landed on %q", u, got)
		}
	}
	third := dial(t, addr)
	if l := third.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("a third connection from the same address got %q, want * BYE", l)
	}
	// The refusal is counted by reason, as GET /stats reports it.
	if got := a.console.Stats().Refusals; got["per_address"] != 1 {
		t.Fatalf("refusals in /stats: %v, want per_address: 1", got)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	oc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	other := newClient(t, oc)
	_ = oc.SetDeadline(time.Now().Add(10 * time.Second))
	other.line()
	other.mustLand("c", "pw", "only", "another address")
}

// Item 4: a thousand idle connections and stalled handshakes from one
// address do not stop TLS logins from another, on implicit TLS and on
// STARTTLS.
func TestHostileHandshakeFlood(t *testing.T) {
	users := map[string]string{"a": "pw"}
	b := listenMock(t, func() (*mockimap.Server, error) {
		return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "only", Users: users})
	})
	files := writeProxyFiles(t, "")
	perIP := "max_connections_per_ip = 4000\n"
	a := startApp(t, hostileConfig(files, "", listenerSection("imaps", "imap", "implicit", perIP)+listenerSection("imap", "imap", "starttls", perIP), "imap", mockPort(b.Addr()), ""))
	imaps, imap := a.Addrs("imaps")[0], a.Addrs("imap")[0]
	flood := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	var hold []net.Conn
	defer func() {
		for _, c := range hold {
			c.Close()
		}
	}()
	for i := 0; i < 1100; i++ {
		c, err := flood.Dial("tcp", imaps)
		if err != nil {
			t.Fatalf("flood %d: %v", i, err)
		}
		hold = append(hold, c)
	}
	for i := 0; i < 100; i++ { // one byte of a ClientHello, then silence
		c, err := flood.Dial("tcp", imaps)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0x16})
		hold = append(hold, c)
	}
	for i := 0; i < 5; i++ {
		raw, err := net.Dial("tcp", imaps)
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
		_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
		c := newClient(t, tc)
		c.line()
		if got := c.landedOn("a", "pw"); got != "only" {
			t.Fatalf("implicit TLS login %d landed on %q", i, got)
		}
		c2 := dialGreeted(t, imap)
		c2.startTLS()
		if got := c2.landedOn("a", "pw"); got != "only" {
			t.Fatalf("STARTTLS login %d landed on %q", i, got)
		}
		raw.Close()
	}
}

// HTTP/2 streams go through the same gate as everything else: they are
// listed while they run, a kick resets them, and an open breaker refuses
// them without a dial.
func TestHostileHTTP2StreamsAreGated(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: hello\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	a := hostileHTTPS(t, mockPort(ln.Addr().String()), "host_down_threshold = 1\nhost_down_cooldown = \"1m\"")
	base := "https://" + a.Addrs("web")[0]
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true,
	}}
	req, _ := http.NewRequest("GET", base+"/events", nil)
	req.SetBasicAuth("carol@example.com", "pw")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("not HTTP/2: %s", resp.Proto)
	}
	br := bufio.NewReader(resp.Body)
	if l, _ := br.ReadString('\n'); l != "data: hello\n" {
		t.Fatalf("first event %q", l)
	}
	var listed bool
	for _, s := range a.Engine().Sessions(nil) {
		listed = listed || (s.State == "stream" && s.Account == "carol@example.com" && s.Destination == "d")
	}
	if !listed {
		t.Fatalf("the stream is not listed: %+v", a.Engine().Sessions(nil))
	}
	n := a.Engine().KickSessions(func(s sessions.Info) bool { return s.Account == "carol@example.com" })
	if n != 1 {
		t.Fatalf("kicked %d streams, want 1", n)
	}
	if _, err := io.Copy(io.Discard, br); err == nil {
		// A reset stream ends the body with an error; a clean end would
		// mean the backend finished, which it never does by itself.
		t.Fatal("the kicked stream ended cleanly")
	}

	// The backend goes away: the first stream fails (502) and opens the
	// breaker; the next is refused at the proxy.
	srv.Close()
	once.Do(func() { close(release) })
	codes := []int{}
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("GET", base+"/x", nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if i == 1 && !strings.Contains(string(body), "marked down") {
			t.Fatalf("second answer: %d %q", resp.StatusCode, body)
		}
	}
	if codes[0] != 502 || codes[1] != 503 {
		t.Fatalf("answers %v, want [502 503]", codes)
	}
}

// A refused TLS handshake on a relayed listener is counted, and does not
// leave a relayed session behind (shutdown would wait for it).
func TestHostileRefusedHandshakeOnARelayListener(t *testing.T) {
	ln := testnet.Listen(t)
	a := hostileHTTPS(t, mockPort(ln.Addr().String()), "")
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", a.Addrs("web")[0])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // not a ClientHello
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
	}
	e := a.Engine()
	if n := e.Refusals()["handshake_failed"]; n != 3 {
		t.Fatalf("handshake failures counted: %d, want 3 (%v)", n, e.Refusals())
	}
	if n := e.Stats.Relaying.Load(); n != 0 {
		t.Fatalf("%d relayed sessions left behind", n)
	}
}
