package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// tokenMatches compares the presented token with the configured one in
// constant time. Both are hashed first so that the comparison time does
// not depend on the presented token's length either.
func tokenMatches(presented string, want [sha256.Size]byte) bool {
	got := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// bearer extracts the token of an "Authorization: Bearer <token>" header;
// the scheme is case-insensitive (RFC 9110 section 11.1).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	return tok, tok != ""
}

// lockoutMaxEntries bounds the memory of the lockout table.
const lockoutMaxEntries = 16 << 10

// lockout counts bad tokens per client and refuses a client that reached
// the threshold for the lockout duration, even with the right token.
type lockout struct {
	mu        sync.Mutex
	threshold int
	duration  time.Duration
	clients   map[netip.Prefix]*failures
}

type failures struct {
	n      int
	last   time.Time // last failure
	locked time.Time // when the threshold was reached (zero: not locked)
}

func newLockout(threshold int, d time.Duration) *lockout {
	return &lockout{threshold: threshold, duration: d, clients: map[netip.Prefix]*failures{}}
}

// clientKey is the client's address; an IPv6 client is keyed by its /64,
// which one host usually holds whole, so that it cannot dodge the lockout
// by changing addresses.
func clientKey(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{} // unknown transport: one shared key
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// retryAfter returns how long key is still locked out (0: not locked).
func (l *lockout) retryAfter(key netip.Prefix, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.clients[key]
	if f == nil || f.locked.IsZero() {
		return 0
	}
	left := f.locked.Add(l.duration).Sub(now)
	if left <= 0 {
		delete(l.clients, key)
		return 0
	}
	return left
}

// fail records a bad token and reports whether it locked the client out.
// Failures older than the lockout duration are forgotten.
func (l *lockout) fail(key netip.Prefix, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.clients[key]
	if f == nil {
		if len(l.clients) >= lockoutMaxEntries {
			l.pruneLocked(now)
		}
		if len(l.clients) >= lockoutMaxEntries {
			// Full of live lockouts: this client is not tracked. Each
			// entry needs threshold failures from a distinct address or
			// /64, so this takes a determined, distributed attacker.
			return false
		}
		f = &failures{}
		l.clients[key] = f
	}
	if !f.last.IsZero() && now.Sub(f.last) >= l.duration {
		*f = failures{}
	}
	f.n++
	f.last = now
	if f.n >= l.threshold && f.locked.IsZero() {
		f.locked = now
		return true
	}
	return false
}

// succeed forgets the failures of a client that presented the right token.
func (l *lockout) succeed(key netip.Prefix) {
	l.mu.Lock()
	delete(l.clients, key)
	l.mu.Unlock()
}

// pruneLocked drops expired entries, then, if still full, entries that are
// not locked out.
func (l *lockout) pruneLocked(now time.Time) {
	for k, f := range l.clients {
		if now.Sub(f.last) >= l.duration && (f.locked.IsZero() || now.Sub(f.locked) >= l.duration) {
			delete(l.clients, k)
		}
	}
	if len(l.clients) < lockoutMaxEntries {
		return
	}
	for k, f := range l.clients {
		if f.locked.IsZero() {
			delete(l.clients, k)
		}
	}
}
