package invalidate

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/switchyard-mail/switchyard/router"
)

// memStore is a Store and Writer; batch adds SetMany.
type memStore struct {
	mu   sync.Mutex
	m    map[string]string
	fail string // Set of this identifier fails
}

func (s *memStore) Lookup(_ context.Context, id string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.m[id]
	return d, ok, nil
}
func (s *memStore) Local() bool  { return true }
func (s *memStore) Close() error { return nil }
func (s *memStore) Set(_ context.Context, id, dest string) error {
	if id == s.fail {
		return errors.New("refused")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = dest
	return nil
}
func (s *memStore) Delete(_ context.Context, id string) error { return nil }

type batchStore struct{ *memStore }

func (b batchStore) SetMany(ctx context.Context, pairs []router.Mapping) error {
	for _, p := range pairs {
		if p.Identifier == b.fail {
			return errors.New("refused")
		}
	}
	for _, p := range pairs {
		_ = b.Set(ctx, p.Identifier, p.Destination)
	}
	return nil
}

type recBus struct{ ids []string }

func (b *recBus) Publish(_ context.Context, ids ...string) error {
	b.ids = append(b.ids, ids...)
	return nil
}
func (b *recBus) Subscribe(context.Context, func([]string)) error { return nil }

// SetMany: a batch writer writes all or nothing; another writer stops at
// the failing pair and says which; what was written is dropped from the
// cache and announced, once.
func TestSetMany(t *testing.T) {
	ctx := context.Background()
	pairs := []router.Mapping{{Identifier: "a@x", Destination: "new"}, {Identifier: "b@x", Destination: "new"}, {Identifier: "c@x", Destination: "new"}}
	for _, tc := range []struct {
		name    string
		batch   bool
		written int
		index   int
	}{{"batch", true, 0, -1}, {"one by one", false, 1, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			s := &memStore{m: map[string]string{"a@x": "old"}, fail: "b@x"}
			r, err := router.New(router.Options{DefaultDestination: "old"}, s)
			if err != nil {
				t.Fatal(err)
			}
			if res, _ := r.Resolve(ctx, "a@x"); res.Destination != "old" {
				t.Fatal(res)
			}
			var w Writer = s
			if tc.batch {
				w = batchStore{s}
			}
			bus := &recBus{}
			n, err := SetMany(ctx, w, r, bus, pairs)
			var be *BatchError
			if n != tc.written || err == nil || (tc.index >= 0) != errors.As(err, &be) || (be != nil && be.Index != tc.index) {
				t.Fatalf("SetMany = %d, %v", n, err)
			}
			if !slices.Equal(bus.ids, []string{"a@x"}[:tc.written]) {
				t.Fatalf("announced %v", bus.ids)
			}
			want := map[bool]string{true: "old", false: "new"}[tc.batch]
			if res, _ := r.Resolve(ctx, "a@x"); res.Destination != want {
				t.Fatalf("a@x resolves to %s after the batch, want %s", res.Destination, want)
			}
			s.fail = ""
			if n, err := SetMany(ctx, w, r, bus, pairs); n != 3 || err != nil {
				t.Fatalf("SetMany = %d, %v", n, err)
			}
			if res, _ := r.Resolve(ctx, "c@x"); res.Destination != "new" {
				t.Fatalf("c@x: %v", res)
			}
		})
	}
}
