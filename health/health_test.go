package health

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testnet"
	"github.com/switchyard-mail/switchyard/router/ring"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type change struct {
	dest, proto string
	up          bool
}

func newReg(t *testing.T) (*Registry, *clock, *[]change) {
	clk := &clock{t: time.Unix(1e9, 0)}
	var mu sync.Mutex
	var changes []change
	r := New(Options{FailureThreshold: 3, Cooldown: 10 * time.Second, ProbeTimeout: 30 * time.Second, Now: clk.now,
		OnChange: func(d, p string, up bool) { mu.Lock(); changes = append(changes, change{d, p, up}); mu.Unlock() }})
	return r, clk, &changes
}

func TestBreakerOpensAfterThreshold(t *testing.T) {
	r, clk, changes := newReg(t)
	r.Failure("n1", "imap")
	r.Failure("n1", "imap")
	r.Success("n1", "imap") // resets the count
	r.Failure("n1", "imap")
	r.Failure("n1", "imap")
	if !r.Allow("n1", "imap") || r.State("n1", "imap") != Closed {
		t.Fatal("opened before 3 consecutive failures")
	}
	opened := clk.now()
	r.Failure("n1", "imap")
	if r.Allow("n1", "imap") || r.Up("n1", "imap") {
		t.Fatal("still allowed after 3 consecutive failures")
	}
	if s := snapshotOf(r, "n1", "imap"); s.State != Open || s.Consecutive != 3 || !s.Since.Equal(opened) ||
		!s.OpenUntil.Equal(opened.Add(10*time.Second)) || s.Failures != 5 {
		t.Fatalf("status when opened: %+v", s)
	}
	if !r.Allow("n1", "pop3") || !r.Allow("n2", "imap") {
		t.Fatal("another protocol or destination was affected")
	}
	checkProbeAfter(t, r, clk, "n1", "imap", 9*time.Second, "allowed during the cooldown", time.Second, "no probe after the cooldown")
	if r.State("n1", "imap") != HalfOpen || r.Allow("n1", "imap") {
		t.Fatal("a second caller got through while the probe is in flight")
	}
	r.Failure("n1", "imap") // probe failed: open again for a full cooldown
	checkProbeAfter(t, r, clk, "n1", "imap", 9*time.Second, "allowed right after the probe failed", time.Second, "no second probe")
	r.Success("n1", "imap")
	if s := snapshotOf(r, "n1", "imap"); s.State != Closed || s.Consecutive != 0 || !s.Since.Equal(clk.now()) || !s.OpenUntil.IsZero() {
		t.Fatalf("status when closed again: %+v", s)
	}
	for i := 0; i < 5; i++ {
		if !r.Allow("n1", "imap") {
			t.Fatal("refused after the probe succeeded")
		}
	}
	want := []change{{"n1", "imap", false}, {"n1", "imap", true}}
	if len(*changes) != 2 || (*changes)[0] != want[0] || (*changes)[1] != want[1] {
		t.Fatalf("changes %v, want %v", *changes, want)
	}
}

func TestSingleProbeUnderConcurrency(t *testing.T) {
	r, clk, _ := newReg(t)
	for i := 0; i < 3; i++ {
		r.Failure("n1", "smtp")
	}
	clk.add(10 * time.Second)
	var granted atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r.Allow("n1", "smtp") {
				granted.Add(1)
			}
		}()
	}
	wg.Wait()
	if granted.Load() != 1 {
		t.Fatalf("%d probes granted, want 1", granted.Load())
	}
	// A probe that never reports is forgotten after ProbeTimeout.
	checkProbeAfter(t, r, clk, "n1", "smtp", 29*time.Second, "second probe before ProbeTimeout", time.Second, "no new probe after ProbeTimeout")
}

func TestAllowDoesNotAllocate(t *testing.T) {
	r, _, _ := newReg(t)
	r.Allow("n1", "imap")
	if a := testing.AllocsPerRun(1000, func() {
		r.Allow("n1", "imap")
		r.Success("n1", "imap")
	}); a != 0 {
		t.Fatalf("%v allocations", a)
	}
}

func TestParseGreeting(t *testing.T) {
	for _, c := range []struct {
		proto, data string
		want        error
	}{
		{"imap", "* OK [CAPABILITY IMAP4rev1] ready\r\n", nil},
		{"imap", "* BYE too many\r\n", ErrBadGreeting},
		{"imap", "* OK ready", ErrNeedMore},
		{"pop3", "+OK Dovecot ready.\r\n", nil},
		{"pop3", "-ERR no\r\n", ErrBadGreeting},
		{"smtp", "220 mx ESMTP\r\n", nil},
		{"lmtp", "421 busy\r\n", ErrBadGreeting},
		{"managesieve", "\"IMPLEMENTATION\" \"Dovecot\"\r\n\"SIEVE\" \"fileinto\"\r\nOK \"ready\"\r\n", nil},
		{"managesieve", "\"IMPLEMENTATION\" \"x\"\r\n", ErrNeedMore},
		{"managesieve", "BYE \"no\"\r\n", ErrBadGreeting},
		{"http", "", nil},
		{"other", "+OK\n", nil},
		{"other", "hello\n", ErrBadGreeting},
	} {
		if got := ParseGreeting(c.proto, []byte(c.data)); !errors.Is(got, c.want) && got != c.want {
			t.Errorf("%s %q: %v, want %v", c.proto, c.data, got, c.want)
		}
	}
}

// backend is a TCP server sending a greeting, stoppable and restartable
// on the same port.
type backend struct {
	t        *testing.T
	addr     string
	greeting string
	ln       net.Listener
	served   <-chan struct{} // closed when ln's accept loop has ended
}

func startBackend(t *testing.T, greeting string) *backend {
	b := &backend{t: t, addr: "127.0.0.1:0", greeting: greeting}
	b.start()
	b.addr = b.ln.Addr().String()
	t.Cleanup(b.stop)
	return b
}

func (b *backend) start() {
	var err error
	for i := 0; i < 100; i++ { // the port may linger briefly after a stop
		if b.ln, err = net.Listen("tcp", b.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	b.served = testnet.Serve(b.ln, func(c net.Conn) {
		_, _ = c.Write([]byte(b.greeting))
		c.Close()
	})
}

func (b *backend) stop() {
	if b.ln != nil {
		b.ln.Close()
		<-b.served
		b.ln = nil
	}
}

// The active checker opens the circuit of a backend that stopped, the ring
// sends its accounts to their next node, and both come back when the
// backend is restarted.
func TestCheckerStopRestartWithRing(t *testing.T) {
	good := startBackend(t, "* OK ready\r\n")
	other := startBackend(t, "* OK ready\r\n")
	rg, err := ring.New([]ring.Node{{Name: "n1"}, {Name: "n2"}})
	if err != nil {
		t.Fatal(err)
	}
	reg := New(Options{FailureThreshold: 2, Cooldown: time.Hour,
		OnChange: func(d, p string, up bool) { rg.SetDown(d, !up) }})
	chk := NewChecker(reg, []Target{{Dest: "n1", Proto: "imap", Addr: good.addr}, {Dest: "n2", Proto: "imap", Addr: other.addr}},
		CheckerOptions{Timeout: 2 * time.Second})
	ctx := context.Background()
	var onN1 []string
	for i := 0; len(onN1) < 50; i++ {
		id := "user" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "@example.com"
		if d, _ := rg.Locate(id); d == "n1" {
			onN1 = append(onN1, id)
		}
	}
	chk.Round(ctx)
	if !reg.Up("n1", "imap") {
		t.Fatal("n1 down while it greets")
	}
	good.stop()
	chk.Round(ctx)
	if !reg.Up("n1", "imap") {
		t.Fatal("opened after 1 failure with threshold 2")
	}
	chk.Round(ctx)
	if reg.Up("n1", "imap") || !rg.Down("n1") {
		t.Fatal("n1 still up after 2 failed checks")
	}
	for _, id := range onN1 {
		if d, _ := rg.Locate(id); d != "n2" {
			t.Fatalf("%s on %s while n1 is down", id, d)
		}
	}
	good.start()
	chk.Round(ctx) // a successful check closes the circuit despite the 1h cooldown
	if !reg.Up("n1", "imap") || rg.Down("n1") {
		t.Fatal("n1 not back after a successful check")
	}
	for _, id := range onN1 {
		if d, _ := rg.Locate(id); d != "n1" {
			t.Fatalf("%s stayed on %s after n1 healed", id, d)
		}
	}
	// A backend that answers with the wrong greeting fails the check.
	bad := startBackend(t, "* BYE go away\r\n")
	if err := CheckOnce(ctx, Target{Proto: "imap", Addr: bad.addr}, time.Second); !errors.Is(err, ErrBadGreeting) {
		t.Fatalf("BYE greeting: %v", err)
	}
	st := reg.Snapshot()
	if len(st) != 2 {
		t.Fatalf("snapshot %+v", st)
	}
}

// Passive breaker + ring.LocateFunc: accounts of a node whose circuit is
// open go to their next node; after the cooldown one connection probes
// the node and, when it succeeds, the accounts return.
func TestRingLocateFuncWithBreaker(t *testing.T) {
	r, clk, _ := newReg(t)
	rg, _ := ring.New([]ring.Node{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}})
	allow := func(n string) bool { return r.Allow(n, "imap") }
	var id string
	for i := 0; ; i++ {
		id = "probe" + strings.Repeat("z", i) + "@x"
		if d, _ := rg.Locate(id); d == "n2" {
			break
		}
	}
	order := rg.Order(id, nil)
	for i := 0; i < 3; i++ {
		r.Failure("n2", "imap")
	}
	if d, _ := rg.LocateFunc(id, allow); d != order[1] {
		t.Fatalf("with n2 open: %s, want its next node %s", d, order[1])
	}
	clk.add(10 * time.Second)
	if d, _ := rg.LocateFunc(id, allow); d != "n2" {
		t.Fatalf("after cooldown the probe should go to n2, got %s", d)
	}
	if d, _ := rg.LocateFunc(id, allow); d != order[1] {
		t.Fatalf("second connection during the probe: %s, want %s", d, order[1])
	}
	r.Success("n2", "imap")
	if d, _ := rg.LocateFunc(id, allow); d != "n2" {
		t.Fatalf("after a good probe: %s", d)
	}
}

func snapshotOf(r *Registry, dest, proto string) Status {
	for _, s := range r.Snapshot() {
		if s.Dest == dest && s.Proto == proto {
			return s
		}
	}
	return Status{}
}

// TestCheckerSetTargets: after SetTargets the rounds check the new
// address and no longer the old one; Results reports the last outcome of
// each target.
func TestCheckerSetTargets(t *testing.T) {
	oldB, newB := testnet.StartGreeter(t, "* OK ready\r\n"), testnet.StartGreeter(t, "* OK ready\r\n")
	reg := New(Options{})
	chk := NewChecker(reg, []Target{{Dest: "d", Proto: "imap", Addr: oldB.Addr}}, CheckerOptions{Timeout: 2 * time.Second})
	chk.Round(context.Background())
	if oldB.Count() != 1 || newB.Count() != 0 {
		t.Fatalf("before: old %d new %d", oldB.Count(), newB.Count())
	}
	chk.SetTargets([]Target{{Dest: "d", Proto: "imap", Addr: newB.Addr}, {Dest: "e", Proto: "imap", Addr: newB.Addr}})
	chk.Round(context.Background())
	if oldB.Count() != 1 || newB.Count() != 2 {
		t.Fatalf("after: old %d new %d", oldB.Count(), newB.Count())
	}
	if got := chk.Targets(); len(got) != 2 || got[0].Addr != newB.Addr {
		t.Fatalf("Targets %+v", got)
	}
	res := chk.Results()
	if len(res) != 2 || res[0].Err != "" || res[0].At.IsZero() || res[0].Latency <= 0 {
		t.Fatalf("Results %+v", res)
	}
	newB.Close()
	chk.Round(context.Background())
	for _, r := range chk.Results() {
		if r.Err == "" {
			t.Fatalf("a failed check reported as passed: %+v", r)
		}
	}
}

// TestCheckerDropsStaleOutcome: a check that started before SetTargets
// does not report on the destination it no longer describes.
func TestCheckerDropsStaleOutcome(t *testing.T) {
	ln := testnet.Listen(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c // holds the check: no greeting yet
		}
	}()
	reg := New(Options{FailureThreshold: 1})
	chk := NewChecker(reg, []Target{{Dest: "d", Proto: "imap", Addr: ln.Addr().String()}}, CheckerOptions{Timeout: time.Minute})
	done := make(chan struct{})
	go func() { chk.Round(context.Background()); close(done) }()
	var c net.Conn
	select {
	case c = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the check never connected")
	}
	chk.SetTargets(nil)
	c.Close() // the old address fails the check now
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the round did not end")
	}
	if !reg.Up("d", "imap") {
		t.Fatal("a check of the replaced target opened the circuit")
	}
}

// TestZeroOptionsAreTheConfigDefaults: a registry built with zero Options
// behaves as server.host_down_threshold (5) and host_down_cooldown (30s)
// say by default, as the proxy does.
func TestZeroOptionsAreTheConfigDefaults(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	r := New(Options{Now: clk.now})
	for i := 1; i < 5; i++ {
		r.Failure("n1", "imap")
		if !r.Allow("n1", "imap") {
			t.Fatalf("opened after %d failures, before the default threshold of 5", i)
		}
	}
	r.Failure("n1", "imap")
	if r.Up("n1", "imap") {
		t.Fatal("still up after 5 consecutive failures")
	}
	checkProbeAfter(t, r, clk, "n1", "imap", 30*time.Second-time.Millisecond, "allowed before the default cooldown of 30s", time.Millisecond, "no probe allowed after the default cooldown of 30s")
}

// One client whose connections the backend refuses (a banned address)
// cannot open the circuit when MinClients is 2: its failures pile up,
// the destination stays in service for everyone else. A second client
// failing too, or a failure of the host's (a refused connect), opens it.
func TestMinClientsBreaker(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	r := New(Options{FailureThreshold: 3, MinClients: 2, Cooldown: 10 * time.Second, Now: clk.now})
	for i := 0; i < 10; i++ {
		r.FailureFrom("n1", "imap", "192.0.2.7:40000")
	}
	if !r.Up("n1", "imap") {
		t.Fatal("one client's failures opened the circuit")
	}
	if s := snapshotOf(r, "n1", "imap"); s.Consecutive != 10 || s.Sources != 1 || s.HostLevel {
		t.Fatalf("status: %+v", s)
	}
	// Another port of the same client, and the same IPv6 /64, count once.
	r.FailureFrom("n1", "imap", "192.0.2.7:40001")
	r.FailureFrom("n1", "pop3", "[2001:db8::1]:1")
	r.FailureFrom("n1", "pop3", "[2001:db8::2]:1")
	r.FailureFrom("n1", "pop3", "2001:db8::3")
	if !r.Up("n1", "imap") || !r.Up("n1", "pop3") {
		t.Fatal("one address (or one /64) counted as two")
	}
	r.FailureFrom("n1", "imap", "198.51.100.9:5000")
	if r.Up("n1", "imap") {
		t.Fatal("failures from two clients past the threshold did not open the circuit")
	}
	// A success resets the sources: one client alone again cannot open it.
	clk.add(10 * time.Second)
	if !r.Allow("n1", "imap") {
		t.Fatal("no probe after the cooldown")
	}
	r.Success("n1", "imap")
	for i := 0; i < 5; i++ {
		r.FailureFrom("n1", "imap", "192.0.2.7:40000")
	}
	if !r.Up("n1", "imap") {
		t.Fatal("sources were not reset by a success")
	}
	// A failure of the host's (a refused connect) opens it at once: the
	// streak is already past the threshold.
	r.Failure("n1", "imap")
	if s := snapshotOf(r, "n1", "imap"); s.State != Open || !s.HostLevel {
		t.Fatalf("host-level failure did not open it: %+v", s)
	}
	// With the default MinClients (1), one client's failures open it.
	d := New(Options{FailureThreshold: 3, Now: clk.now})
	for i := 0; i < 3; i++ {
		d.FailureFrom("n1", "imap", "192.0.2.7:40000")
	}
	if d.Up("n1", "imap") {
		t.Fatal("MinClients 1: three failures of one client did not open it")
	}
}

// checkProbeAfter advances clk by before, checks that r grants no probe
// to node's proto (early says why it must not), then by after, and checks
// that it grants one (late says why it must).
func checkProbeAfter(t *testing.T, r *Registry, clk *clock, node, proto string, before time.Duration, early string, after time.Duration, late string) {
	t.Helper()
	clk.add(before)
	if r.Allow(node, proto) {
		t.Fatal(early)
	}
	clk.add(after)
	if !r.Allow(node, proto) {
		t.Fatal(late)
	}
}
