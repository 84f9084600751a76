package engine

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

func (h *harness) login(t *testing.T, user string) *client {
	t.Helper()
	c := dialClient(t, h.addr)
	c.expect("HELLO")
	c.send("LOGIN " + user + "\r\n")
	c.expect("OK " + user)
	return c
}

func TestLoginIsBridged(t *testing.T) {
	b := startBackend(t, echoBackend)
	h := startEngine(t, b.port())
	c := h.login(t, "alice")
	c.send("ping\r\n")
	c.expect("alice: ping")

	seen := h.bridge.seen()
	if len(seen) != 1 {
		t.Fatalf("bridge got %d sessions, want 1", len(seen))
	}
	if got, want := seen[0].clientPeer, netip.MustParseAddrPort(c.c.LocalAddr().String()); got != want {
		t.Fatalf("client descriptor's peer is %v, want the client %v", got, want)
	}
	if got, want := seen[0].backendPeer.Port(), uint16(b.port()); got != want {
		t.Fatalf("backend descriptor's peer port is %d, want %d", got, want)
	}
	list := h.e.Sessions(nil)
	if len(list) != 1 || list[0].State != sessions.StateBridged || list[0].Account != "alice" || list[0].Destination != "b" {
		t.Fatalf("sessions: %+v", list)
	}
}

// A client's pipelined commands after LOGIN reach its backend first.
func TestPipelinedCommandsFollowTheLogin(t *testing.T) {
	b := startBackend(t, echoBackend)
	h := startEngine(t, b.port())
	c := dialClient(t, h.addr)
	c.send("LOGIN bob\r\none\r\ntwo\r\n")
	c.expect("HELLO")
	c.expect("OK bob")
	c.expect("bob: one")
	c.expect("bob: two")
}

// A backend that refuses the login, then one that closes during it: the
// client hears it and may try again on the same connection.
func TestFailedLoginsResumeTheDialogue(t *testing.T) {
	b := startBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		io.WriteString(c, "READY\r\n")
		line, _ := br.ReadString('\n')
		switch strings.TrimSpace(line) {
		case "AUTH wrong":
			io.WriteString(c, "NO bad password\r\n")
		case "AUTH vanish":
			return // closes during the login
		default:
			io.WriteString(c, "OK\r\n")
			io.Copy(io.Discard, br)
		}
	})
	h := startEngine(t, b.port())
	c := dialClient(t, h.addr)
	c.expect("HELLO")
	c.send("LOGIN wrong\r\n")
	c.expect("NO bad password")
	c.send("LOGIN vanish\r\n")
	c.expect("NO UNAVAILABLE")
	c.send("LOGIN right\r\n")
	c.expect("OK")
	if n := h.e.Stats.LoginFailures.Load(); n != 2 {
		t.Fatalf("login failures = %d, want 2", n)
	}
}

// Issue 13, item 1: a client holds unread output at its login's verdict
// and its backend answers OK and closes at once (as after a per-user limit
// or a restart), while other clients connect. The session must fail: never
// wait and later duplicate a descriptor number that now belongs to someone
// else. Every descriptor the bridge gets is checked: its peer must be the
// client that logged in.
func TestVerdictWithUnreadOutputNeverCrossesSessions(t *testing.T) {
	b := startBackend(t, func(c net.Conn) {
		br, user, ok := backendLogin(c)
		if ok && user != "mallory" { // mallory: OK, then BYE: the connection closes
			echoAs(c, br, user)
		}
	})
	h := startEngine(t, b.port(), func(o *options.Options, _ *options.Listener) {
		// Let the front end answer every pipelined command before the
		// login, so the verdict finds output gnet could not write.
		o.Limits.OutputSoftCap = 8 << 20
		o.Limits.OutputHardCap = 16 << 20
	})
	var addrMu sync.Mutex
	addrs := map[string][]netip.AddrPort{} // account -> the clients that logged in as it
	note := func(user string, c net.Conn) {
		addrMu.Lock()
		addrs[user] = append(addrs[user], netip.MustParseAddrPort(c.LocalAddr().String()))
		addrMu.Unlock()
	}
	for round := 0; round < 5; round++ {
		attacker := testnet.DialSmallReceiveBuffer(t, h.addr)
		note("mallory", attacker)
		var pipeline strings.Builder
		for i := 0; i < 100; i++ { // 6 MB: more than the kernel's buffers take
			pipeline.WriteString("FAT 60000\r\n")
		}
		pipeline.WriteString("LOGIN mallory\r\nEVIL-" + fmt.Sprint(round) + "\r\n")
		if _, err := io.WriteString(attacker, pipeline.String()); err != nil {
			t.Fatal(err)
		}
		// Others log in meanwhile; each must only ever see its own backend.
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				user := fmt.Sprintf("user%d-%d", round, i)
				c, err := net.Dial("tcp", h.addr)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				note(user, c)
				br := bufio.NewReader(c)
				fmt.Fprintf(c, "LOGIN %s\r\nping\r\n", user)
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				for _, want := range []string{"HELLO", "OK " + user, user + ": ping"} {
					got, err := br.ReadString('\n')
					if err != nil || strings.TrimSpace(got) != want {
						t.Errorf("%s: got %q (%v), want %q", user, got, err, want)
						return
					}
				}
			}(i)
		}
		wg.Wait()
		// The attacker's session ends; whatever it reads is its own.
		ac := &client{t: t, c: attacker, br: bufio.NewReader(attacker)}
		_ = attacker.SetReadDeadline(time.Now().Add(10 * time.Second))
		data, _ := io.ReadAll(ac.br)
		if strings.Contains(string(data), "user") {
			t.Fatalf("the attacker read another session's bytes")
		}
	}
	for _, s := range h.bridge.seen() {
		ok := false
		for _, a := range addrs[s.info.Account] {
			ok = ok || a == s.clientPeer
		}
		if !ok {
			t.Fatalf("session %d of %s was bridged with the socket of %v, not one of its own clients %v", s.info.ID, s.info.Account, s.clientPeer, addrs[s.info.Account])
		}
		if !strings.HasPrefix(s.clientPrelude, "OK "+s.info.Account) {
			t.Fatalf("session %d got prelude %q for account %s", s.info.ID, s.clientPrelude, s.info.Account)
		}
		if s.backendPeer.Port() != uint16(b.port()) {
			t.Fatalf("session %d: backend descriptor's peer is %v, not the backend", s.info.ID, s.backendPeer)
		}
	}
	if n := h.e.Refusals()["handoff_unsent_output"]; n == 0 {
		t.Fatalf("the hand-off never met unsent output: the test did not exercise the case (refusals %v)", h.e.Refusals())
	}
}

// Issue 13, item 5: a client that pipelines commands and does not read.
// The proxy stops feeding it and stops reading it once its output is
// behind, holding a bounded amount; once the client reads, every reply
// arrives, in order.
func TestNonReadingClientIsPushedBack(t *testing.T) {
	b := startBackend(t, echoBackend)
	h := startEngine(t, b.port())
	conn := testnet.DialSmallReceiveBuffer(t, h.addr)
	const n, size = 2000, 6000 // 20 KB of commands, 12 MB of replies
	if _, err := io.WriteString(conn, strings.Repeat(fmt.Sprintf("FAT %d\r\n", size), n)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the proxy to pause the client", func() bool { return pausedAnywhere(h.e) })
	br := bufio.NewReaderSize(conn, 64<<10)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if l, err := br.ReadString('\n'); err != nil || l != "HELLO\r\n" {
		t.Fatalf("greeting %q %v", l, err)
	}
	for i := 0; i < n; i++ {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if len(l) != size+2 {
			t.Fatalf("reply %d has %d bytes", i, len(l))
		}
	}
}

// A client that pipelines without end and never reads: memory stays
// bounded (it is paused, then closed past its input cap), and everyone
// else is served meanwhile.
func TestEndlessPipelineIsBounded(t *testing.T) {
	b := startBackend(t, echoBackend)
	h := startEngine(t, b.port())
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	conn := testnet.DialSmallReceiveBuffer(t, h.addr)
	wrote := make(chan int64, 1)
	go func() {
		chunk := []byte(strings.Repeat("FAT 600\r\n", 4096))
		var total int64
		for total < 256<<20 {
			_ = conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
			n, err := conn.Write(chunk)
			total += int64(n)
			if err != nil {
				break
			}
		}
		wrote <- total
	}()
	total := <-wrote
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 16<<20 {
		t.Fatalf("heap grew by %d bytes for a client that wrote %d bytes and never read", grew, total)
	}
	if total >= 256<<20 {
		t.Fatalf("the proxy took all %d bytes: nothing pushed back", total)
	}
	h.login(t, "bystander")
}

func pausedAnywhere(e *Engine) bool {
	for _, l := range e.allLoops() {
		if l.pausedHint.Load() {
			return true
		}
	}
	return false
}

// Issue 13, item 7: connections per client address, bridged sessions
// included; other addresses are not affected; a slot is free again once
// its session ends.
func TestPerAddressCap(t *testing.T) {
	b := startBackend(t, echoBackend)
	h := startEngine(t, b.port(), func(_ *options.Options, l *options.Listener) { l.MaxConnsPerAddr = 3 })
	var held []*client
	for i := 0; i < 3; i++ {
		held = append(held, h.login(t, fmt.Sprint("u", i)))
	}
	over := dialClient(t, h.addr)
	over.expect("BUSY")
	if !over.closedByServer(5 * time.Second) {
		t.Fatal("a connection over the per-address cap was not closed")
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	other, err := d.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	oc := &client{t: t, c: other, br: bufio.NewReader(other)}
	oc.expect("HELLO")
	held[0].c.Close()
	eventually(t, "the closed session's slot", func() bool {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, _ := bufio.NewReader(c).ReadString('\n')
		return l == "HELLO\r\n"
	})
	if h.e.Refusals()["per_address"] == 0 && refusedAt(h, "per_address") == 0 {
		t.Fatal("per-address refusals were not counted")
	}
}

func refusedAt(h *harness, reason string) int {
	return strings.Count(h.logs.String(), "reason="+reason)
}

// Issue 13, item 4: idle TCP connections and stalled handshakes from one
// address do not stop another address's TLS logins.
func TestHandshakeFloodFromOneAddress(t *testing.T) {
	b := startBackend(t, echoBackend)
	h := startEngine(t, b.port(), withTLS(t, options.TLSImplicit), func(o *options.Options, l *options.Listener) {
		o.Limits.MaxHandshakes = 64
		o.Limits.MaxHandshakesPerListener = 64
		o.Limits.MaxHandshakesPerAddr = 8
		l.MaxConnsPerAddr = 2000
		l.MaxConnections = 5000
	})
	flood := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	var hold []net.Conn
	defer func() {
		for _, c := range hold {
			c.Close()
		}
	}()
	for i := 0; i < 1100; i++ { // idle: no byte sent
		c, err := flood.Dial("tcp", h.addr)
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		hold = append(hold, c)
	}
	for i := 0; i < 100; i++ { // a first byte, then nothing: a stalled handshake
		c, err := flood.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0x16})
		hold = append(hold, c)
	}
	eventually(t, "handshake refusals from the flooding address", func() bool { return h.e.Refusals()["handshake_limit"] > 0 })
	for i := 0; i < 10; i++ {
		raw, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
		cl := &client{t: t, c: c, br: bufio.NewReader(c)}
		cl.expect("HELLO")
		user := fmt.Sprint("tls", i)
		cl.send("LOGIN " + user + "\r\nping\r\n")
		cl.expect("OK " + user)
		cl.expect(user + ": ping")
		c.Close()
	}
}

// An idle TLS connection holds no handshake slot and is closed after the
// first-byte deadline.
func TestTLSFirstByteDeadline(t *testing.T) {
	b := startBackend(t, echoBackend)
	h := startEngine(t, b.port(), withTLS(t, options.TLSImplicit), func(o *options.Options, _ *options.Listener) {
		o.Limits.FirstByteTimeout = 100 * time.Millisecond
	})
	c := dialClient(t, h.addr)
	if !c.closedByServer(10 * time.Second) {
		t.Fatal("an idle TLS connection was not closed")
	}
	if h.e.Refusals()["tls_first_byte_timeout"] == 0 {
		t.Fatalf("not counted: %v", h.e.Refusals())
	}
	if n := h.e.hs.InFlight(); n != 0 {
		t.Fatalf("%d handshake slots held", n)
	}
}

// STARTTLS: bytes pipelined behind the command are dropped (injection),
// and the session goes on over TLS.
func TestStartTLSDropsPipelinedBytes(t *testing.T) {
	b := startBackend(t, echoBackend)
	h := startEngine(t, b.port(), withTLS(t, options.TLSStartTLS))
	c := dialClient(t, h.addr)
	c.expect("HELLO")
	c.send("STARTTLS\r\nLOGIN injected\r\n")
	c.expect("GO")
	tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true})
	tcl := &client{t: t, c: tc, br: bufio.NewReader(tc)}
	tcl.expect("HELLO TLS")
	tcl.send("LOGIN carol\r\n")
	tcl.expect("OK carol")
	for _, s := range h.bridge.seen() {
		if s.info.Account == "injected" {
			t.Fatal("a command pipelined behind STARTTLS was executed")
		}
	}
}

// Every session is listed wherever it lives, and a kick ends it.
func TestRegistryListsAndKicks(t *testing.T) {
	b := startBackend(t, echoBackend)
	h := startEngine(t, b.port())
	bridgedC := h.login(t, "dave")
	pre := dialClient(t, h.addr)
	pre.expect("HELLO")
	eventually(t, "two sessions listed", func() bool { return len(h.e.Sessions(nil)) == 2 })
	states := map[string]string{}
	for _, s := range h.e.Sessions(nil) {
		states[s.State] = s.Account
	}
	if states[sessions.StateBridged] != "dave" || states[sessions.StatePreauth] != "" {
		t.Fatalf("sessions: %+v", h.e.Sessions(nil))
	}
	if n := h.e.KickSessions(func(s sessions.Info) bool { return true }); n != 2 {
		t.Fatalf("kicked %d, want 2", n)
	}
	if !bridgedC.closedByServer(5*time.Second) || !pre.closedByServer(5*time.Second) {
		t.Fatal("kicked sessions stayed open")
	}
	eventually(t, "the registry to empty", func() bool { return h.e.ActiveSessions() == 0 })
}

// The listener count follows a client until it is gone, bridged included.
func TestMaxConnectionsCountsBridgedSessions(t *testing.T) {
	b := startBackend(t, echoBackend)
	h := startEngine(t, b.port(), func(_ *options.Options, l *options.Listener) { l.MaxConnections = 2 })
	h.login(t, "a")
	h.login(t, "b")
	c := dialClient(t, h.addr)
	c.expect("BUSY")
}

// A backend that never answers: the login times out into a temporary
// failure, and the descriptor budget is whole again afterwards.
func TestBackendTimeoutReleasesEverything(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts in the kernel, never speaks
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := startEngine(t, ln.Addr().(*net.TCPAddr).Port, func(o *options.Options, _ *options.Listener) { o.BackendTimeout = 300 * time.Millisecond })
	base := h.e.fds.Used()
	c := dialClient(t, h.addr)
	c.expect("HELLO")
	c.send("LOGIN erin\r\n")
	c.expect("NO UNAVAILABLE")
	c.send("QUIT\r\n")
	c.expect("BYE")
	eventually(t, "the budget to return to its base", func() bool { return h.e.fds.Used() == base })
}

// Shutdown says goodbye to connections in the reactor.
func TestStopSaysGoodbye(t *testing.T) {
	b := startBackend(t, echoBackend)
	h := startEngine(t, b.port())
	c := dialClient(t, h.addr)
	c.expect("HELLO")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go h.e.Stop(ctx)
	c.expect("BYE")
}

// Bytes a backend sends right behind its verdict reach the client after
// it, and the login counts once (issue 13, item 10).
func TestBytesBehindTheVerdict(t *testing.T) {
	b := startBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		io.WriteString(c, "READY\r\n")
		if _, err := br.ReadString('\n'); err != nil {
			return
		}
		io.WriteString(c, "OK frank\r\n* NOTICE behind the verdict\r\n")
		io.Copy(io.Discard, br)
	})
	h := startEngine(t, b.port())
	c := h.login(t, "frank")
	c.expect("* NOTICE behind the verdict")
	if n := h.e.Stats.Logins.Load(); n != 1 {
		t.Fatalf("logins = %d, want 1", n)
	}
}

// Dials bind to the destination's source addresses in turn, and a
// refused connect is tried again (server.backend_connect_retries).
func TestDialSourceAddrsAndRetries(t *testing.T) {
	var mu sync.Mutex
	sources := map[string]bool{}
	b := startBackend(t, func(c net.Conn) {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		mu.Lock()
		sources[host] = true
		mu.Unlock()
		echoBackend(c)
	})
	h := startEngine(t, b.port(), func(o *options.Options, _ *options.Listener) {
		o.Destinations["b"].SourceAddrs = []netip.Addr{netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4")}
	})
	h.login(t, "s1")
	h.login(t, "s2")
	mu.Lock()
	got := len(sources)
	ok := sources["127.0.0.3"] && sources["127.0.0.4"]
	mu.Unlock()
	if got != 2 || !ok {
		t.Fatalf("dials came from %v, want 127.0.0.3 and 127.0.0.4", sources)
	}

	// A host name resolved by LookupHost to two addresses: the first
	// refuses (the backend listens on 127.0.0.1 only), the second serves.
	var lookups atomic.Int32
	h2 := startEngine(t, b.port(), func(o *options.Options, _ *options.Listener) {
		o.Destinations["b"].Host = "backend.test"
		o.LookupHost = func(_ context.Context, host string) ([]netip.Addr, error) {
			lookups.Add(1)
			if host != "backend.test" {
				return nil, fmt.Errorf("unknown host %s", host)
			}
			return []netip.Addr{netip.MustParseAddr("127.0.0.9"), netip.MustParseAddr("127.0.0.1")}, nil
		}
	})
	h2.login(t, "named")
	if lookups.Load() == 0 {
		t.Fatal("the host name was not looked up through LookupHost")
	}
}
