// Package router maps an account identifier (the login name, or the account
// inside an OAuth token) to a destination id such as "old" or "new".
//
// Resolution order: normalize the identifier, then ask the mapping Store
// (explicit per-account mappings) through the cache, then the cluster Ring
// (consistent hashing, when configured), then the default destination.
//
// Answers from a remote store (Redis, SQL: Store.Local reports false) are
// cached in freecache: a mapping for PositiveTTL, "the store has no mapping"
// for NegativeTTL. The ring and the default are applied afresh on every
// negative hit, so a ring change needs no invalidation. Store errors are
// never cached. An in-memory store (the mapping file) is asked directly:
// its map is faster than the cache and can never be stale.
//
// The engine's event loops must never block: Cached answers whenever that
// needs no blocking lookup, and Resolve may be called on a loop only when
// Inline reports that the store is in memory.
package router

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/coocood/freecache"
	"golang.org/x/sync/singleflight"

	"github.com/switchyard-mail/switchyard/limits"
)

// Errors returned by Resolve and Cached. Temporary failures wrap their cause.
var (
	// ErrNoRoute: the account has no mapping, the ring has no node for it
	// and there is no default destination. The connection is refused.
	ErrNoRoute = errors.New("router: no route for account")
	// ErrTempFail: the store could not answer (error or timeout) and the
	// policy is "tempfail". The client should retry later.
	ErrTempFail = errors.New("router: temporary failure")
	// ErrInvalidIdentifier: the normalized identifier is empty or longer
	// than MaxIdentifierLen.
	ErrInvalidIdentifier = errors.New("router: invalid account identifier")
	// ErrNotCached: Cached has no answer; call Resolve (on a worker unless
	// Inline reports true).
	ErrNotCached = errors.New("router: not cached")
)

// Source says which step of the resolution order produced a destination.
type Source uint8

const (
	SourceNone    Source = iota // no destination (only with an error)
	SourceStore                 // an explicit mapping in the store
	SourceRing                  // the cluster ring (consistent hashing)
	SourceDefault               // Options.DefaultDestination
)

func (s Source) String() string {
	switch s {
	case SourceStore:
		return "store"
	case SourceRing:
		return "ring"
	case SourceDefault:
		return "default"
	}
	return "none"
}

// Result is a resolved route.
type Result struct {
	Destination string
	Source      Source
	// Cached is true when the store's answer (its mapping, or for ring and
	// default answers its "no mapping") came from the cache.
	Cached bool
}

// Store holds explicit account -> destination mappings (file, Redis, SQL...).
// Lookup receives a normalized identifier. found=false with a nil error means
// the store has no mapping for the account; an error means it could not tell.
type Store interface {
	Lookup(ctx context.Context, id string) (dest string, found bool, err error)
	// Local reports that Lookup never blocks (an in-memory table), so that
	// Resolve may run on an event loop.
	Local() bool
	Close() error
}

// Ring places accounts that have no explicit mapping on a cluster node by
// consistent hashing. Locate receives a normalized identifier, must not
// block, and returns ok=false when no node is available. It is consulted
// after the store and before the default destination.
type Ring interface {
	Locate(id string) (dest string, ok bool)
}

// Store error policies for Options.OnStoreError.
const (
	OnStoreErrorTempFail = "tempfail"
	OnStoreErrorDefault  = "default"
)

// Defaults applied by New to zero-valued options: the configuration's
// (package limits), so that the library and the proxy behave alike.
const (
	DefaultPositiveTTL   = limits.PositiveTTL
	DefaultNegativeTTL   = limits.NegativeTTL
	DefaultCacheBytes    = min(limits.CacheMaxEntries*limits.CacheEntryBytes, limits.MaxCacheBytes)
	DefaultLookupTimeout = limits.LookupTimeout
	// MinCacheBytes is freecache's smallest cache.
	MinCacheBytes = 512 << 10
)

// NoCache, as PositiveTTL or NegativeTTL, disables caching of that kind of
// answer (any negative duration does).
const NoCache time.Duration = -1

// Options configures a Router. The zero value is valid: lowercase
// normalization, 10m/30s TTLs, a cache of about 61 MiB (a million
// entries), no default destination, 5s lookup timeout, temporary failure
// on store errors.
type Options struct {
	// Normalize is "lowercase" (default) or "none".
	Normalize string
	// StripDetail removes a "+detail" sub-address from the local part:
	// user+tag@example.com routes as user@example.com.
	StripDetail bool
	// DomainAliases maps alias domains to their canonical domain
	// (user@alias.example -> user@example.com). A target may not itself be
	// an alias.
	DomainAliases map[string]string

	// PositiveTTL and NegativeTTL are how long found and not-found store
	// answers stay cached. Zero selects the default (10m, 30s); NoCache (or
	// any negative value) disables caching of that kind. freecache counts whole seconds: a TTL
	// is rounded up to the next second.
	PositiveTTL, NegativeTTL time.Duration
	// CacheBytes is the cache size (default DefaultCacheBytes, about
	// 61 MiB, allocated only for a remote store; minimum 512 KiB).
	CacheBytes int

	// DefaultDestination receives accounts with no mapping and no ring
	// node. Empty means such accounts are refused with ErrNoRoute.
	DefaultDestination string
	// Ring, when set, is consulted for accounts with no explicit mapping.
	Ring Ring

	// LookupTimeout bounds one store lookup (default 5s).
	LookupTimeout time.Duration
	// OnStoreError is "tempfail" (default: Resolve returns ErrTempFail) or
	// "default" (route as if the store had no mapping, without caching).
	OnStoreError string
}

// Router resolves account identifiers to destinations. It is safe for
// concurrent use.
type Router struct {
	norm         *normalizer
	cacheSize    int
	cacheMu      sync.Mutex
	cache        atomic.Pointer[freecache.Cache] // made on first use by a remote store
	posTTL       int                             // seconds; 0 = do not cache
	negTTL       int
	def          string
	ring         Ring
	timeout      time.Duration
	defaultOnErr bool
	store        atomic.Pointer[storeBox]
	flights      atomic.Pointer[singleflight.Group]
	gen          atomic.Uint64 // bumped by every invalidation
	dests        atomic.Pointer[map[string]string]
	destsMu      sync.Mutex
	maxInterned  int
}

type storeBox struct{ s Store }

// Cache value layout: one kind byte, then the destination for kindFound.
const (
	kindFound    = 'F'
	kindNotFound = 'N'
)

// defaultMaxInterned bounds the table of distinct destination strings that
// cache hits return without allocating. Destinations are a small configured
// set; past the bound, hits still work but allocate.
const defaultMaxInterned = limits.MaxInternedDests

// New validates opt and returns a Router using store for explicit mappings.
// store may be nil (ring and default only) and can be replaced by SetStore.
func New(opt Options, store Store) (*Router, error) {
	norm, err := newNormalizer(opt)
	if err != nil {
		return nil, err
	}
	r := &Router{norm: norm, def: opt.DefaultDestination, ring: opt.Ring, maxInterned: defaultMaxInterned}
	if r.posTTL, err = ttlSeconds("PositiveTTL", opt.PositiveTTL, DefaultPositiveTTL); err != nil {
		return nil, err
	}
	if r.negTTL, err = ttlSeconds("NegativeTTL", opt.NegativeTTL, DefaultNegativeTTL); err != nil {
		return nil, err
	}
	size := opt.CacheBytes
	switch {
	case size == 0:
		size = DefaultCacheBytes
	case size < MinCacheBytes:
		return nil, fmt.Errorf("router: Options.CacheBytes: %d is below the minimum %d", size, MinCacheBytes)
	}
	r.cacheSize = size
	switch {
	case opt.LookupTimeout == 0:
		r.timeout = DefaultLookupTimeout
	case opt.LookupTimeout < 0:
		return nil, fmt.Errorf("router: Options.LookupTimeout: %v is negative", opt.LookupTimeout)
	default:
		r.timeout = opt.LookupTimeout
	}
	switch opt.OnStoreError {
	case "", OnStoreErrorTempFail:
	case OnStoreErrorDefault:
		if r.def == "" && r.ring == nil {
			return nil, fmt.Errorf("router: Options.OnStoreError: %q needs a DefaultDestination or a Ring", OnStoreErrorDefault)
		}
		r.defaultOnErr = true
	default:
		return nil, fmt.Errorf("router: Options.OnStoreError: unknown policy %q (want %q or %q)",
			opt.OnStoreError, OnStoreErrorTempFail, OnStoreErrorDefault)
	}
	empty := map[string]string{}
	r.dests.Store(&empty)
	r.flights.Store(new(singleflight.Group))
	r.store.Store(&storeBox{store})
	return r, nil
}

func ttlSeconds(name string, d, def time.Duration) (int, error) {
	switch {
	case d == 0:
		d = def
	case d < 0:
		return 0, nil
	case d > math.MaxInt32*time.Second:
		return 0, fmt.Errorf("router: Options.%s: %v is too long", name, d)
	}
	return int((d + time.Second - 1) / time.Second), nil
}

// NewNormalizer returns the normalization function that a Router built with
// the same options applies, for stores that normalize their keys on load
// (filestore.Options.Normalize). It uses only Normalize, StripDetail and
// DomainAliases.
func NewNormalizer(opt Options) (func(string) string, error) {
	n, err := newNormalizer(opt)
	if err != nil {
		return nil, err
	}
	return n.normalize, nil
}

// Normalize returns id in the canonical form used for cache and store keys.
// It does not allocate when id is already canonical.
func (r *Router) Normalize(id string) string { return r.norm.normalize(id) }

// Inline reports that Resolve cannot block: the store, if any, is in memory.
// Cached then never returns ErrNotCached.
func (r *Router) Inline() bool {
	s := r.store.Load().s
	return s == nil || s.Local()
}

// Store returns the current store (nil when there is none).
func (r *Router) Store() Store { return r.store.Load().s }

// SetStore replaces the store (on reload) and empties the cache. It closes
// nothing: the caller closes the old store once it is no longer needed.
// Lookups already running against the old store finish but their answers
// are not cached.
func (r *Router) SetStore(s Store) {
	r.store.Store(&storeBox{s})
	r.InvalidateAll()
}

// Invalidate drops the cached answers for the given identifiers (normalized
// here) and makes lookups already in flight skip caching their answer.
func (r *Router) Invalidate(ids ...string) {
	r.gen.Add(1)
	g := r.flights.Load()
	for _, id := range ids {
		n := r.norm.normalize(id)
		g.Forget(n)
		if c := r.cache.Load(); c != nil {
			c.Del(keyBytes(n))
		}
	}
}

// InvalidateAll empties the cache.
func (r *Router) InvalidateAll() {
	r.gen.Add(1)
	r.flights.Store(new(singleflight.Group))
	if c := r.cache.Load(); c != nil {
		c.Clear()
	}
}

// keyBytes views s as bytes without copying. freecache only reads the key
// (and copies it when storing), so the string's immutability is preserved.
func keyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func validID(n string) bool { return n != "" && len(n) <= MaxIdentifierLen }

// Cached answers without blocking: from the cache, or straight from the
// store when it is in memory (Local), then ring and default. When the
// answer needs a lookup in a remote store it returns ErrNotCached: call
// Resolve off the event loop. A cached "no mapping" with neither ring node
// nor default returns ErrNoRoute. A cache hit (or an in-memory store's
// answer) for an already-normalized identifier does not allocate.
func (r *Router) Cached(id string) (Result, error) {
	n := r.norm.normalize(id)
	if !validID(n) {
		return Result{}, ErrInvalidIdentifier
	}
	st := r.store.Load().s
	if st == nil || st.Local() {
		return r.resolveLocal(context.Background(), st, n)
	}
	return r.cached(n)
}

// resolveLocal resolves against an in-memory store (or none), uncached.
func (r *Router) resolveLocal(ctx context.Context, st Store, n string) (Result, error) {
	if st != nil {
		dest, found, err := st.Lookup(ctx, n)
		switch {
		case err != nil:
			return r.storeFailed(ctx, n, fmt.Errorf("store lookup: %w", err))
		case found && dest == "":
			return r.storeFailed(ctx, n, errEmptyDest)
		case found:
			return Result{Destination: dest, Source: SourceStore}, nil
		}
	}
	return r.fallback(n)
}

var errEmptyDest = errors.New("store lookup: empty destination")

// storeFailed applies the OnStoreError policy. A caller's own cancellation
// is never routed to the default.
func (r *Router) storeFailed(ctx context.Context, n string, err error) (Result, error) {
	if ctx.Err() == nil && r.defaultOnErr {
		return r.fallback(n)
	}
	return Result{}, fmt.Errorf("%w: %w", ErrTempFail, err)
}

func (r *Router) cached(n string) (Result, error) {
	c := r.cache.Load()
	if c == nil {
		return Result{}, ErrNotCached
	}
	var (
		dest  string
		kind  byte
		dests = *r.dests.Load()
	)
	err := c.GetFn(keyBytes(n), func(v []byte) error {
		if len(v) == 0 {
			return nil
		}
		kind = v[0]
		if kind == kindFound {
			var ok bool
			if dest, ok = dests[string(v[1:])]; !ok { // no allocation for the lookup
				dest = string(v[1:])
			}
		}
		return nil
	})
	if err != nil {
		return Result{}, ErrNotCached
	}
	switch kind {
	case kindFound:
		return Result{Destination: dest, Source: SourceStore, Cached: true}, nil
	case kindNotFound:
		res, err := r.fallback(n)
		res.Cached = err == nil
		return res, err
	}
	return Result{}, ErrNotCached
}

// fallback applies the steps after the store: ring, then default.
func (r *Router) fallback(n string) (Result, error) {
	if r.ring != nil {
		if d, ok := r.ring.Locate(n); ok && d != "" {
			return Result{Destination: d, Source: SourceRing}, nil
		}
	}
	if r.def != "" {
		return Result{Destination: r.def, Source: SourceDefault}, nil
	}
	return Result{}, ErrNoRoute
}

type lookupAnswer struct {
	dest  string
	found bool
}

// Resolve returns the destination for id: store (through the cache for a
// remote store, one lookup per normalized identifier at a time, bounded by
// LookupTimeout), then ring, then default. Errors: ErrInvalidIdentifier,
// ErrNoRoute, and ErrTempFail wrapping the store's error or the caller's
// context error.
func (r *Router) Resolve(ctx context.Context, id string) (Result, error) {
	n := r.norm.normalize(id)
	if !validID(n) {
		return Result{}, ErrInvalidIdentifier
	}
	st := r.store.Load().s
	if st == nil || st.Local() {
		return r.resolveLocal(ctx, st, n)
	}
	if res, err := r.cached(n); err != ErrNotCached {
		return res, err
	}
	ans, err := r.lookupShared(ctx, st, n)
	if err != nil {
		return r.storeFailed(ctx, n, err)
	}
	if ans.found {
		return Result{Destination: ans.dest, Source: SourceStore}, nil
	}
	return r.fallback(n)
}

// lookupShared runs one store lookup per normalized identifier however many
// callers ask at once. The lookup itself is detached from the first caller's
// cancellation (other callers share it) and bounded by LookupTimeout; each
// caller stops waiting at its own context's end or after LookupTimeout.
func (r *Router) lookupShared(ctx context.Context, st Store, n string) (lookupAnswer, error) {
	gen := r.gen.Load()
	ch := r.flights.Load().DoChan(n, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
		defer cancel()
		return r.lookup(lctx, st, n, gen)
	})
	wait := time.NewTimer(r.timeout)
	defer wait.Stop()
	select {
	case res := <-ch:
		if res.Err != nil {
			return lookupAnswer{}, res.Err
		}
		return res.Val.(lookupAnswer), nil
	case <-ctx.Done():
		return lookupAnswer{}, ctx.Err()
	case <-wait.C:
		return lookupAnswer{}, fmt.Errorf("store lookup: %w", context.DeadlineExceeded)
	}
}

// lookup asks the store and caches a definite answer unless an invalidation
// happened since gen was read.
func (r *Router) lookup(ctx context.Context, st Store, n string, gen uint64) (lookupAnswer, error) {
	dest, found, err := st.Lookup(ctx, n)
	if err != nil {
		return lookupAnswer{}, fmt.Errorf("store lookup: %w", err)
	}
	if found && dest == "" {
		return lookupAnswer{}, errEmptyDest
	}
	if r.posTTL > 0 || r.negTTL > 0 {
		var (
			val []byte
			ttl int
		)
		if found {
			ttl = r.posTTL
			if ttl > 0 {
				dest = r.intern(dest)
				val = make([]byte, 1+len(dest))
				val[0] = kindFound
				copy(val[1:], dest)
			}
		} else if ttl = r.negTTL; ttl > 0 {
			val = []byte{kindNotFound}
		}
		if ttl > 0 && r.gen.Load() == gen {
			c, key := r.cacheForWrite(), keyBytes(n)
			_ = c.Set(key, val, ttl) // too large to cache: answer anyway
			// An invalidation between the check above and Set must win:
			// Invalidate bumps gen before deleting, so re-checking after Set
			// catches it.
			if r.gen.Load() != gen {
				c.Del(key)
			}
		}
	}
	return lookupAnswer{dest: dest, found: found}, nil
}

// cacheForWrite returns the cache, making it on first use: a router over an
// in-memory store never needs one.
func (r *Router) cacheForWrite() *freecache.Cache {
	if c := r.cache.Load(); c != nil {
		return c
	}
	r.cacheMu.Lock()
	defer r.cacheMu.Unlock()
	if c := r.cache.Load(); c != nil {
		return c
	}
	c := freecache.NewCache(r.cacheSize)
	r.cache.Store(c)
	return c
}

// intern returns the canonical copy of dest so that cache hits can return
// it without allocating.
func (r *Router) intern(dest string) string {
	m := *r.dests.Load()
	if d, ok := m[dest]; ok {
		return d
	}
	r.destsMu.Lock()
	defer r.destsMu.Unlock()
	m = *r.dests.Load()
	if d, ok := m[dest]; ok {
		return d
	}
	if len(m) >= r.maxInterned {
		return dest
	}
	next := make(map[string]string, len(m)+1)
	for k, v := range m {
		next[k] = v
	}
	next[dest] = dest
	r.dests.Store(&next)
	return dest
}
