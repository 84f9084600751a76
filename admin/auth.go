package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-mail/switchyard/limits"
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
const lockoutMaxEntries = limits.AdminLockoutEntries

// lockout throttles token guessing per client address without ever
// refusing the right token. Bad tokens are counted per client; at the
// threshold the client is locked: from then on its token checks are
// paced, one per pace interval, in order of arrival, until lockout
// duration has passed since its last bad token.
//
// Why pacing rather than refusing: an address is not a person (an office
// behind one NAT, a bastion host), so refusing every request from a
// locked address lets anyone there lock the administrators out. But a
// valid token cannot be told from a guess without checking it, and a
// check that may succeed during the lockout is an answer to a guess; so
// every check from a locked client waits for its turn. A guesser gets one
// answer per pace; the administrator's request waits behind at most the
// guesser's requests in flight, which the per-client connection cap
// bounds (MaxConnsPerClient × pace).
type lockout struct {
	mu        sync.Mutex
	threshold int
	duration  time.Duration
	pace      time.Duration
	clients   map[netip.Prefix]*failures
}

type failures struct {
	n      int
	last   time.Time // last failure
	locked bool      // reached the threshold; lasts until last+duration
	next   time.Time // while locked: when the next token check may run
}

func newLockout(threshold int, d, pace time.Duration) *lockout {
	return &lockout{threshold: threshold, duration: d, pace: pace, clients: map[netip.Prefix]*failures{}}
}

// clientKey is the client's address; an IPv6 client is keyed by its /64,
// which one host usually holds whole, so that it cannot dodge the lockout
// or the connection cap by changing addresses.
func clientKey(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{} // unknown transport: one shared key
	}
	return addrKey(a)
}

func addrKey(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// entry returns key's live entry, dropping an expired one (nil: none).
func (l *lockout) entry(key netip.Prefix, now time.Time) *failures {
	f := l.clients[key]
	if f != nil && now.Sub(f.last) >= l.duration {
		delete(l.clients, key)
		return nil
	}
	return f
}

// reserve books key's next token check and returns its turn: now when
// key is not locked or the previous turn is over, else the end of the
// previous turn. A turn later than now+max is not booked (ok false): the
// queue is longer than a caller should wait.
func (l *lockout) reserve(key netip.Prefix, now time.Time, max time.Duration) (turn time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.entry(key, now)
	if f == nil || !f.locked {
		return now, true
	}
	turn = f.next
	if turn.Before(now) {
		turn = now
	}
	if turn.Sub(now) > max {
		return turn, false
	}
	f.next = turn.Add(l.pace)
	return turn, true
}

// refund gives back a turn that a good token used, when nobody booked
// after it: the administrator's own requests do not pace each other.
func (l *lockout) refund(key netip.Prefix, turn time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.clients[key]; f != nil && f.locked && f.next.Equal(turn.Add(l.pace)) {
		f.next = turn
	}
}

// retryAfter returns how long key stays locked (0: not locked).
func (l *lockout) retryAfter(key netip.Prefix, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.entry(key, now)
	if f == nil || !f.locked {
		return 0
	}
	return f.last.Add(l.duration).Sub(now)
}

// fail records a bad token; it reports whether this one locked the client
// and whether the client is locked now. Failures older than the lockout
// duration are forgotten; each bad token of a locked client renews the
// lockout. A good token clears nothing: someone else at the same address
// may be the one guessing.
func (l *lockout) fail(key netip.Prefix, now time.Time) (justLocked, locked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.entry(key, now)
	if f == nil {
		if len(l.clients) >= lockoutMaxEntries {
			l.pruneLocked(now)
		}
		if len(l.clients) >= lockoutMaxEntries {
			// Full of live lockouts: this client is not tracked. Each
			// entry needs threshold failures from a distinct address or
			// /64, so this takes a determined, distributed attacker.
			return false, false
		}
		f = &failures{}
		l.clients[key] = f
	}
	f.n++
	f.last = now
	if f.n >= l.threshold && !f.locked {
		f.locked = true
		return true, true
	}
	return false, f.locked
}

// pruneLocked drops expired entries, then, if still full, entries that are
// not locked.
func (l *lockout) pruneLocked(now time.Time) {
	for k, f := range l.clients {
		if now.Sub(f.last) >= l.duration {
			delete(l.clients, k)
		}
	}
	if len(l.clients) < lockoutMaxEntries {
		return
	}
	for k, f := range l.clients {
		if !f.locked {
			delete(l.clients, k)
		}
	}
}
