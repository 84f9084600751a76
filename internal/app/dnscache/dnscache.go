// Package dnscache resolves destination host names once per TTL for the
// engine's dials and the active checks.
package dnscache

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/limits"
)

// Cache resolves destination host names for the engine's dials and the
// active checks (destination.<id>.dns_cache_ttl): a name is resolved once,
// its addresses kept for its TTL and refreshed in the background before
// logins would wait, so no login pays for DNS after the first. While the
// resolver fails the last addresses serve for up to limits.DNSMaxStale
// past their TTL. A host whose TTL is 0 (or that no destination names)
// is resolved on every call.
type Cache struct {
	// Resolve looks a name up (net.DefaultResolver; tests replace it).
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	timeout time.Duration // one resolution (server.backend_timeout)
	now     func() time.Time
	log     *slog.Logger

	mu      sync.Mutex
	ttl     map[string]time.Duration // lowercased host -> TTL in force
	entries map[string]*dnsEntry
	closed  bool
	flight  singleflight.Group
}

type dnsEntry struct {
	addrs []netip.Addr
	at    time.Time // when addrs were resolved
	timer *time.Timer
}

func New(timeout time.Duration, log *slog.Logger) *Cache {
	return &Cache{
		Resolve: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		},
		timeout: timeout,
		now:     time.Now,
		log:     log,
		ttl:     map[string]time.Duration{},
		entries: map[string]*dnsEntry{},
	}
}

// HostTTLs is the TTL of every destination host name of cfg: the
// shortest of the destinations that name it (IP literals are left out).
func HostTTLs(cfg *config.Config) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, d := range cfg.Destination {
		if _, err := netip.ParseAddr(strings.Trim(d.Host, "[]")); err == nil || d.Host == "" {
			continue
		}
		h := strings.ToLower(d.Host)
		if t, ok := out[h]; !ok || d.DNSCacheTTL.D() < t {
			out[h] = d.DNSCacheTTL.D()
		}
	}
	return out
}

// SetHosts installs the TTLs of a (re)loaded configuration; entries of
// hosts no longer cached are dropped.
func (c *Cache) SetHosts(ttl map[string]time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ttl = ttl
	for h, e := range c.entries {
		if ttl[h] <= 0 {
			e.timer.Stop()
			delete(c.entries, h)
		}
	}
}

// Close stops the background refreshes.
func (c *Cache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for h, e := range c.entries {
		e.timer.Stop()
		delete(c.entries, h)
	}
}

// LookupHost is options.Options.LookupHost.
func (c *Cache) LookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	h := strings.ToLower(host)
	c.mu.Lock()
	ttl := c.ttl[h]
	e := c.entries[h]
	var addrs []netip.Addr
	if e != nil && c.now().Before(e.at.Add(ttl+limits.DNSMaxStale)) {
		addrs = e.addrs
	}
	c.mu.Unlock()
	if addrs != nil {
		return addrs, nil
	}
	if ttl <= 0 {
		return c.Resolve(ctx, host)
	}
	// Cold (or too stale): resolve once for every caller waiting.
	ch := c.flight.DoChan(h, func() (any, error) { return c.refresh(h) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]netip.Addr), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// refresh resolves h, stores the answer and schedules the next refresh:
// at the TTL after a success, after limits.DNSRetryInterval (or the TTL
// if shorter) after a failure, which keeps the previous addresses.
func (c *Cache) refresh(h string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	addrs, err := c.Resolve(ctx, h)
	cancel()
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: "no address", Name: h, IsNotFound: true}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ttl := c.ttl[h]
	if c.closed || ttl <= 0 {
		return addrs, err
	}
	e := c.entries[h]
	if e == nil {
		e = &dnsEntry{}
		c.entries[h] = e
	} else if e.timer != nil {
		e.timer.Stop()
	}
	next := ttl
	if err != nil {
		next = min(ttl, limits.DNSRetryInterval)
		if e.addrs != nil {
			c.log.Warn("DNS refresh failed; the last addresses stay in use", "host", h, "addrs", e.addrs, "err", err)
		}
	} else {
		e.addrs, e.at = addrs, c.now()
	}
	e.timer = time.AfterFunc(next, func() { c.flight.Do(h, func() (any, error) { return c.refresh(h) }) })
	if err != nil {
		return nil, err
	}
	return addrs, nil
}

// Dial is the active checks' dialer: the host of addr resolved through
// the cache, each address tried in turn.
func (c *Cache) Dial(next func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if _, perr := netip.ParseAddr(host); perr == nil {
			return next(ctx, network, addr)
		}
		addrs, err := c.LookupHost(ctx, host)
		if err != nil {
			return nil, err
		}
		var last error
		for _, a := range addrs {
			conn, err := next(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return conn, nil
			}
			last = err
			if ctx.Err() != nil {
				break
			}
		}
		return nil, last
	}
}
