package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLockoutPacesGuessesButNotTheRightToken: bad tokens from one address
// lock it; from then on its guesses are answered one per pace (429), while
// an administrator at the same address (one NAT) still gets in with the
// right token.
func TestLockoutPacesGuessesButNotTheRightToken(t *testing.T) {
	h := newHarness(t, nil) // threshold 3, duration 1 minute, pace 1 s
	const attacker = "198.51.100.9:4000"
	bad := reqOpt{token: "Bearer not-the-token", remote: attacker}
	for i := 1; i <= 3; i++ {
		if w := h.do("GET", "/stats", bad); w.Code != http.StatusUnauthorized {
			t.Fatalf("bad token %d: status %d", i, w.Code)
		}
	}
	if got := scrape(t, h.s)["switchyard_admin_lockouts_total"]; got != 1 {
		t.Fatalf("switchyard_admin_lockouts_total = %v, want 1", got)
	}
	// Locked: each further guess waits its turn, one per second.
	const guesses = 10
	for i := 0; i < guesses; i++ {
		w := h.do("GET", "/stats", bad)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "60" {
			t.Fatalf("guess %d while locked: %d Retry-After %q", i, w.Code, w.Header().Get("Retry-After"))
		}
	}
	if h.slept < (guesses-1)*time.Second {
		t.Fatalf("%d guesses while locked took %v, want at least %v", guesses, h.slept, (guesses-1)*time.Second)
	}
	if c := h.b.Calls(); len(c) != 0 {
		t.Fatalf("bad tokens reached the backend: %v", c)
	}
	// The right token from the same address, on every endpoint: it waits
	// for the turn after the last guess, never more.
	before := h.slept
	for _, ep := range authedEndpoints {
		w := h.do(ep.method, ep.target, reqOpt{token: "good", remote: "198.51.100.9:4001", body: "carol@example.com new\n"})
		if w.Code == http.StatusTooManyRequests || w.Code == http.StatusUnauthorized {
			t.Fatalf("%s %s with the right token from the locked address: %d %s", ep.method, ep.target, w.Code, w.Body)
		}
	}
	if waited := h.slept - before; waited > time.Second {
		t.Fatalf("the right token waited %v in all, want at most one pace", waited)
	}
	// The health check never needed a token.
	if w := h.do("GET", "/healthz", reqOpt{remote: attacker}); w.Code != 200 {
		t.Fatalf("healthz while locked: %d", w.Code)
	}
	// Another address is neither paced nor refused.
	before = h.slept
	if w := h.do("GET", "/stats", reqOpt{token: "Bearer nope", remote: "198.51.100.10:4000"}); w.Code != 401 {
		t.Fatalf("another client's first bad token: %d", w.Code)
	}
	if h.slept != before {
		t.Fatal("another client was paced")
	}
	// Each guess renewed the lockout; a minute of silence ends it.
	h.clock.advance(61 * time.Second)
	if w := h.do("GET", "/stats", bad); w.Code != 401 {
		t.Fatalf("after the lockout: %d %s", w.Code, w.Body)
	}
}

// TestLockoutRefusesALongQueue: a locked client's turn is never booked
// further than maxLockoutWait ahead; beyond that a request is answered at
// once (whatever its token: it was not checked).
func TestLockoutRefusesALongQueue(t *testing.T) {
	l := newLockout(1, time.Minute, time.Second)
	key := clientKey("192.0.2.1:1")
	now := time.Unix(1000, 0)
	if turn, ok := l.reserve(key, now, maxLockoutWait); !ok || !turn.Equal(now) {
		t.Fatalf("unlocked client: turn %v %v", turn, ok)
	}
	l.fail(key, now)
	n := 0
	for {
		turn, ok := l.reserve(key, now, maxLockoutWait)
		if !ok {
			break
		}
		if want := now.Add(time.Duration(n) * time.Second); !turn.Equal(want) {
			t.Fatalf("turn %d at %v, want %v", n, turn, want)
		}
		n++
	}
	if want := int(maxLockoutWait/time.Second) + 1; n != want {
		t.Fatalf("%d turns booked, want %d", n, want)
	}
	// Through the handler: 429 without a check.
	h := newHarness(t, func(o *Options) { o.LockoutThreshold = 1 })
	h.s.lock = l
	h.s.now = func() time.Time { return now }
	w := h.do("GET", "/stats", reqOpt{token: "good", remote: "192.0.2.1:2"})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != strconv.Itoa(n) {
		t.Fatalf("request behind a full queue: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
}

// TestLockoutRightTokenDoesNotPaceItself: once the guesses stop, the
// administrator's own requests follow each other without waiting, though
// the address is still locked.
func TestLockoutRightTokenDoesNotPaceItself(t *testing.T) {
	h := newHarness(t, nil)
	for i := 0; i < 4; i++ {
		h.do("GET", "/stats", reqOpt{token: "Bearer nope", remote: "203.0.113.5:1"})
	}
	h.clock.advance(time.Second) // the last guess's turn is over
	before := h.slept
	for i := 0; i < 5; i++ {
		if w := h.do("GET", "/stats", reqOpt{token: "good", remote: "203.0.113.5:2"}); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	if h.slept != before {
		t.Fatalf("the right token paced itself: waited %v", h.slept-before)
	}
	// ... and it did not unlock the address for the guesser.
	if w := h.do("GET", "/stats", reqOpt{token: "Bearer nope", remote: "203.0.113.5:1"}); w.Code != 429 {
		t.Fatalf("guess after the administrator's requests: %d", w.Code)
	}
}

func TestLockoutCountsOnlyRecentBadTokens(t *testing.T) {
	h := newHarness(t, nil)
	bad := reqOpt{token: "Bearer nope", remote: "203.0.113.5:1"}
	good := reqOpt{token: "good", remote: "203.0.113.5:2"}
	// Failures older than the lockout duration are forgotten.
	h.do("GET", "/stats", bad)
	h.do("GET", "/stats", bad)
	h.clock.advance(61 * time.Second)
	h.do("GET", "/stats", bad)
	if w := h.do("GET", "/stats", bad); w.Code != 401 {
		t.Fatalf("stale failures counted: %d", w.Code)
	}
	// A missing header is not a guess and does not count.
	for i := 0; i < 10; i++ {
		if w := h.do("GET", "/stats", reqOpt{remote: "203.0.113.5:3"}); w.Code != 401 {
			t.Fatal(w.Code)
		}
	}
	// A good token in between does not clear the count (a scraper behind
	// the same NAT would reset a guesser's).
	if w := h.do("GET", "/stats", good); w.Code != 200 {
		t.Fatal(w.Code)
	}
	if w := h.do("GET", "/stats", bad); w.Code != 401 { // third: locks
		t.Fatal(w.Code)
	}
	if w := h.do("GET", "/stats", bad); w.Code != 429 {
		t.Fatalf("fourth bad token: %d, want 429", w.Code)
	}
}

func TestLockoutIPv6SharesA64(t *testing.T) {
	h := newHarness(t, nil)
	for i, a := range []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:2::2]:1", "[2001:db8:1:2:ffff::3]:1"} {
		if w := h.do("GET", "/stats", reqOpt{token: "Bearer nope", remote: a}); w.Code != 401 {
			t.Fatalf("bad token %d: %d", i, w.Code)
		}
	}
	if w := h.do("GET", "/stats", reqOpt{token: "Bearer nope", remote: "[2001:db8:1:2::99]:1"}); w.Code != 429 {
		t.Fatalf("same /64: %d", w.Code)
	}
	if w := h.do("GET", "/stats", reqOpt{token: "Bearer nope", remote: "[2001:db8:1:3::1]:1"}); w.Code != 401 {
		t.Fatalf("other /64: %d", w.Code)
	}
	// IPv4-mapped IPv6 and plain IPv4 are the same client.
	for i := 0; i < 3; i++ {
		h.do("GET", "/stats", reqOpt{token: "Bearer nope", remote: "[::ffff:192.0.2.1]:1"})
	}
	if w := h.do("GET", "/stats", reqOpt{token: "Bearer nope", remote: "192.0.2.1:1"}); w.Code != 429 {
		t.Fatalf("IPv4-mapped: %d", w.Code)
	}
}

// TestLockoutWaitEndsOnShutdown: a request waiting for its turn is
// answered when the server shuts down instead of holding Shutdown up.
func TestLockoutWaitEndsOnShutdown(t *testing.T) {
	s, _ := newServer(t, func(o *Options) { o.LockoutThreshold = 1; o.LockoutPace = 20 * time.Second })
	req := func(tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/stats", nil)
		r.RemoteAddr = "192.0.2.9:1"
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w
	}
	req("nope") // locks
	req("nope") // books the next 20 s
	done := make(chan int, 1)
	go func() { done <- req(testToken).Code }()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting request outlived Shutdown")
	}
}

func TestLockoutTableIsBounded(t *testing.T) {
	l := newLockout(2, time.Minute, time.Second)
	now := time.Unix(1000, 0)
	for i := 0; i < lockoutMaxEntries+100; i++ {
		key := clientKey("10." + strconv.Itoa(i>>16) + "." + strconv.Itoa((i>>8)&255) + "." + strconv.Itoa(i&255) + ":1")
		l.fail(key, now)
	}
	if n := len(l.clients); n > lockoutMaxEntries {
		t.Fatalf("%d entries, bound %d", n, lockoutMaxEntries)
	}
	// Expired entries make room again.
	later := now.Add(2 * time.Minute)
	k := clientKey("192.0.2.200:1")
	l.fail(k, later)
	if just, _ := l.fail(k, later); !just || l.retryAfter(k, later) != time.Minute {
		t.Fatal("a new client is not tracked after the table expired")
	}
	if !strings.HasPrefix(clientKey("[fe80::1%eth0]:1").String(), "fe80::/64") {
		t.Fatalf("zone not dropped: %v", clientKey("[fe80::1%eth0]:1"))
	}
}
