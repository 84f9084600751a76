package router

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/router/filestore"
)

// cachedRouter has user@example.com -> new in its cache.
func cachedRouter(b *testing.B) *Router {
	b.Helper()
	r, err := New(Options{}, newFake(false, "user@example.com", "new"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.Resolve(context.Background(), "user@example.com"); err != nil {
		b.Fatal(err)
	}
	return r
}

func BenchmarkCachedHit(b *testing.B) {
	r := cachedRouter(b)
	b.ReportAllocs()
	for b.Loop() {
		res, err := r.Cached("user@example.com")
		if err != nil || res.Destination != "new" {
			b.Fatal(res, err)
		}
	}
}

func BenchmarkCachedHitParallel(b *testing.B) {
	r := cachedRouter(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := r.Cached("user@example.com"); err != nil || res.Destination != "new" {
				b.Fatal(res, err)
			}
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	r, err := New(Options{StripDetail: true, PositiveTTL: NoCache, NegativeTTL: NoCache}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, id := range []string{"user@example.com", "User+Tag@Example.com"} {
		b.Run(id, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Normalize(id)
			}
		})
	}
}

// remoteView hides that a store is in memory, so the router caches it.
type remoteView struct{ Store }

func (remoteView) Local() bool { return false }

// BenchmarkResolveFileStore resolves among 10,000 accounts of a mapping
// file: "direct" is how the router uses an in-memory store; "via-cache"
// makes the router treat it as remote and answer from freecache (all hits
// after the first pass), which shows why in-memory stores bypass the cache.
func BenchmarkResolveFileStore(b *testing.B) {
	const n = 10000
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "User%d@Example.com %s\n", i, []string{"old", "new"}[i%2])
	}
	path := filepath.Join(b.TempDir(), "mapping.txt")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%d@example.com", i)
	}
	opt := Options{DefaultDestination: "old"}
	norm, err := NewNormalizer(opt)
	if err != nil {
		b.Fatal(err)
	}
	fs, err := filestore.New(path, filestore.Options{Normalize: norm})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		store Store
	}{
		{"direct", fs},
		{"via-cache", remoteView{fs}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r, err := New(opt, tc.store)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for _, id := range ids { // warm the cache
				if _, err := r.Resolve(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				res, err := r.Resolve(ctx, ids[i%n])
				if err != nil || res.Source != SourceStore {
					b.Fatal(res, err)
				}
				i++
			}
		})
	}
}

// BenchmarkResolveMiss measures a cache miss against a remote-style store:
// single-flight, timeout and caching included.
func BenchmarkResolveMiss(b *testing.B) {
	s := newFake(false, "user@example.com", "new")
	r, err := New(Options{}, s)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.Invalidate("user@example.com")
		if _, err := r.Resolve(ctx, "user@example.com"); err != nil {
			b.Fatal(err)
		}
	}
}
