package admin

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLockoutAfterBadTokens(t *testing.T) {
	h := newHarness(t, nil) // threshold 3, duration 1 minute
	const attacker = "198.51.100.9:4000"
	bad := reqOpt{token: "Bearer not-the-token", remote: attacker}
	for i := 1; i <= 3; i++ {
		if w := h.do("GET", "/stats", bad); w.Code != http.StatusUnauthorized {
			t.Fatalf("bad token %d: status %d", i, w.Code)
		}
	}
	// Locked out now, even with the right token, on every endpoint.
	for _, ep := range authedEndpoints {
		w := h.do(ep.method, ep.target, reqOpt{token: "good", remote: "198.51.100.9:4001"})
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("%s %s while locked out: status %d", ep.method, ep.target, w.Code)
		}
		if ra := w.Header().Get("Retry-After"); ra != "60" {
			t.Fatalf("Retry-After %q, want 60", ra)
		}
	}
	if c := h.b.Calls(); len(c) != 0 {
		t.Fatalf("locked-out requests reached the backend: %v", c)
	}
	// The health check still answers.
	if w := h.do("GET", "/healthz", reqOpt{remote: attacker}); w.Code != 200 {
		t.Fatalf("healthz while locked out: %d", w.Code)
	}
	// Another address is not affected.
	if w := h.do("GET", "/stats", reqOpt{token: "good", remote: "198.51.100.10:4000"}); w.Code != 200 {
		t.Fatalf("another client: %d", w.Code)
	}
	// Retry-After counts down; bad tokens during the lockout do not extend it.
	h.clock.advance(45 * time.Second)
	w := h.do("GET", "/stats", bad)
	if w.Code != 429 || w.Header().Get("Retry-After") != "15" {
		t.Fatalf("after 45 s: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	h.clock.advance(15 * time.Second)
	if w := h.do("GET", "/stats", reqOpt{token: "good", remote: attacker}); w.Code != 200 {
		t.Fatalf("after the lockout: %d %s", w.Code, w.Body)
	}
	if got := scrape(t, h.s)["switchyard_admin_lockouts_total"]; got != 1 {
		t.Fatalf("switchyard_admin_lockouts_total = %v, want 1", got)
	}
}

func TestLockoutCountsOnlyRecentBadTokens(t *testing.T) {
	h := newHarness(t, nil)
	bad := reqOpt{token: "Bearer nope", remote: "203.0.113.5:1"}
	good := reqOpt{token: "good", remote: "203.0.113.5:2"}
	h.do("GET", "/stats", bad)
	h.do("GET", "/stats", bad)
	// A good token clears the count.
	if w := h.do("GET", "/stats", good); w.Code != 200 {
		t.Fatal(w.Code)
	}
	h.do("GET", "/stats", bad)
	h.do("GET", "/stats", bad)
	if w := h.do("GET", "/stats", good); w.Code != 200 {
		t.Fatalf("4 bad tokens around a good one locked out: %d", w.Code)
	}
	// Failures older than the lockout duration are forgotten.
	h.do("GET", "/stats", bad)
	h.do("GET", "/stats", bad)
	h.clock.advance(61 * time.Second)
	h.do("GET", "/stats", bad)
	if w := h.do("GET", "/stats", good); w.Code != 200 {
		t.Fatalf("stale failures counted: %d", w.Code)
	}
	// A missing header is not a guess and does not count.
	for i := 0; i < 10; i++ {
		if w := h.do("GET", "/stats", reqOpt{remote: "203.0.113.5:3"}); w.Code != 401 {
			t.Fatal(w.Code)
		}
	}
	if w := h.do("GET", "/stats", good); w.Code != 200 {
		t.Fatalf("requests without a token locked out: %d", w.Code)
	}
}

func TestLockoutIPv6SharesA64(t *testing.T) {
	h := newHarness(t, nil)
	for i, a := range []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:2::2]:1", "[2001:db8:1:2:ffff::3]:1"} {
		if w := h.do("GET", "/stats", reqOpt{token: "Bearer nope", remote: a}); w.Code != 401 {
			t.Fatalf("bad token %d: %d", i, w.Code)
		}
	}
	if w := h.do("GET", "/stats", reqOpt{token: "good", remote: "[2001:db8:1:2::99]:1"}); w.Code != 429 {
		t.Fatalf("same /64: %d", w.Code)
	}
	if w := h.do("GET", "/stats", reqOpt{token: "good", remote: "[2001:db8:1:3::1]:1"}); w.Code != 200 {
		t.Fatalf("other /64: %d", w.Code)
	}
	// IPv4-mapped IPv6 and plain IPv4 are the same client.
	for i := 0; i < 3; i++ {
		h.do("GET", "/stats", reqOpt{token: "Bearer nope", remote: "[::ffff:192.0.2.1]:1"})
	}
	if w := h.do("GET", "/stats", reqOpt{token: "good", remote: "192.0.2.1:1"}); w.Code != 429 {
		t.Fatalf("IPv4-mapped: %d", w.Code)
	}
}

func TestLockoutTableIsBounded(t *testing.T) {
	l := newLockout(2, time.Minute)
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
	if l.fail(k, later) != true || l.retryAfter(k, later) != time.Minute {
		t.Fatal("a new client is not tracked after the table expired")
	}
	if !strings.HasPrefix(clientKey("[fe80::1%eth0]:1").String(), "fe80::/64") {
		t.Fatalf("zone not dropped: %v", clientKey("[fe80::1%eth0]:1"))
	}
}
