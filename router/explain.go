package router

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Explanation says how an identifier is routed, step by step, for an
// operator (the admin API's route explanation). Explain never changes the
// cache: it peeks at it, and asks the store directly.
type Explanation struct {
	Normalized string
	// Store is the store's own answer, asked now (not through the cache).
	Store StoreStep
	// Ring is the cluster ring's node for the identifier (Configured is
	// false without a ring).
	Ring RingStep
	// Default is Options.DefaultDestination ("" when there is none).
	Default string
	// Cache is what the routing cache holds for the identifier.
	Cache CacheEntry
	// Effective is what a login gets now: the cached answer while there
	// is one (even when the store has changed since: see Stale), else the
	// store's fresh answer, then ring, then default. EffectiveErr is
	// ErrNoRoute or ErrTempFail when a login would get no destination.
	Effective    Result
	EffectiveErr error
	// Stale is true when the cache holds an answer that differs from the
	// store's current one (an invalidation that did not reach this
	// instance; it ends with the entry's TTL).
	Stale bool
}

// StoreStep is the store's answer in an Explanation.
type StoreStep struct {
	Configured  bool
	Found       bool
	Destination string
	Err         error
}

// RingStep is the ring's answer in an Explanation.
type RingStep struct {
	Configured  bool
	Found       bool // a node is available
	Destination string
}

// CacheEntry is the routing cache's entry for one identifier.
type CacheEntry struct {
	// Used is false when the store is in memory (the mapping file) or
	// caching is off: answers never go through the cache then.
	Used    bool
	Present bool
	// Found: the entry is a mapping (Destination); otherwise it is "the
	// store has no mapping".
	Found       bool
	Destination string
	ExpiresAt   time.Time
}

// Explain describes how id is routed (see Explanation). Errors:
// ErrInvalidIdentifier.
func (r *Router) Explain(ctx context.Context, id string) (Explanation, error) {
	n := r.norm.normalize(id)
	if !validID(n) {
		return Explanation{}, ErrInvalidIdentifier
	}
	ex := Explanation{Normalized: n, Default: r.def, Cache: r.CacheEntry(n)}
	st := r.store.Load().s
	if st != nil {
		ex.Store.Configured = true
		lctx, cancel := context.WithTimeout(ctx, r.timeout)
		dest, found, err := st.Lookup(lctx, n)
		cancel()
		switch {
		case err != nil:
			ex.Store.Err = err
		case found && dest == "":
			ex.Store.Err = errEmptyDest
		default:
			ex.Store.Found, ex.Store.Destination = found, dest
		}
	}
	if r.ring != nil {
		ex.Ring.Configured = true
		ex.Ring.Destination, ex.Ring.Found = r.ring.Locate(n)
		ex.Ring.Found = ex.Ring.Found && ex.Ring.Destination != ""
	}
	switch c := ex.Cache; {
	case c.Present && c.Found:
		ex.Effective = Result{Destination: c.Destination, Source: SourceStore, Cached: true}
		ex.Stale = ex.Store.Err == nil && (!ex.Store.Found || ex.Store.Destination != c.Destination)
	case c.Present:
		ex.Effective, ex.EffectiveErr = r.fallback(n)
		ex.Effective.Cached = ex.EffectiveErr == nil
		ex.Stale = ex.Store.Err == nil && ex.Store.Found
	case ex.Store.Err != nil:
		ex.Effective, ex.EffectiveErr = r.storeFailed(ctx, n, fmt.Errorf("store lookup: %w", ex.Store.Err))
	case ex.Store.Found:
		ex.Effective = Result{Destination: ex.Store.Destination, Source: SourceStore}
	default:
		ex.Effective, ex.EffectiveErr = r.fallback(n)
	}
	return ex, nil
}

// CacheEntry peeks at the cache's entry for the normalized identifier n
// (hit and miss counters unchanged).
func (r *Router) CacheEntry(n string) CacheEntry {
	st := r.store.Load().s
	e := CacheEntry{Used: st != nil && !st.Local() && (r.posTTL > 0 || r.negTTL > 0)}
	c := r.cache.Load()
	if c == nil {
		return e
	}
	v, exp, err := c.PeekWithExpiration(keyBytes(n))
	if err != nil || len(v) == 0 {
		return e
	}
	switch v[0] {
	case kindFound:
		e.Present, e.Found, e.Destination = true, true, string(v[1:])
	case kindNotFound:
		e.Present = true
	default:
		return e
	}
	if exp > 0 {
		e.ExpiresAt = time.Unix(int64(exp), 0)
	}
	return e
}

// CacheStats are the routing cache's counters.
type CacheStats struct {
	// Used is false when answers never go through the cache (an
	// in-memory store, or caching off).
	Used                     bool
	Entries                  int64
	Hits, Misses             int64
	Expired, Evicted         int64
	CapacityBytes            int
	PositiveTTL, NegativeTTL time.Duration // 0: that kind is not cached
}

// CacheStats returns the cache's counters (zero counts before the first
// remote lookup made the cache).
func (r *Router) CacheStats() CacheStats {
	st := r.store.Load().s
	s := CacheStats{
		Used:          st != nil && !st.Local() && (r.posTTL > 0 || r.negTTL > 0),
		CapacityBytes: r.cacheSize,
		PositiveTTL:   time.Duration(r.posTTL) * time.Second,
		NegativeTTL:   time.Duration(r.negTTL) * time.Second,
	}
	if c := r.cache.Load(); c != nil {
		s.Entries, s.Hits, s.Misses = c.EntryCount(), c.HitCount(), c.MissCount()
		s.Expired, s.Evicted = c.ExpiredCount(), c.EvacuateCount()
	}
	return s
}

// DefaultDestination returns Options.DefaultDestination.
func (r *Router) DefaultDestination() string { return r.def }

// Mapping is one explicit identifier -> destination pair of a store.
type Mapping struct {
	Identifier  string
	Destination string
}

// Lister is a Store that can enumerate its mappings (the admin API's
// paged list, counts per destination and export).
type Lister interface {
	// List returns mappings whose identifier contains match (every
	// mapping when match is ""), starting at cursor ("" for the first
	// page), about limit of them (a store that pages by its own unit may
	// return a few more), and the cursor of the next page ("" after the
	// last). A cursor is opaque: pass back what List returned.
	List(ctx context.Context, cursor, match string, limit int) (page []Mapping, next string, err error)
	// Count returns how many mappings name each destination.
	Count(ctx context.Context) (map[string]int, error)
}

// ErrNotListable is returned by a Lister whose configuration cannot
// enumerate (a custom SQL lookup query, Redis Cluster).
var ErrNotListable = errors.New("router: this store cannot list its mappings")
