package filestore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSetManyRewritesOnce(t *testing.T) {
	orig := "# header\r\nAlice@Example.com new  # note\r\nbob@example.com old\r\n"
	s, path := newStore(t, orig)
	changed, err := s.SetMany([]Pair{
		{"carol@example.com", "new"},
		{"ALICE@example.com", "old"},
		{"bob@example.com", "old"}, // unchanged
		{"dave@example.com", "old"},
		{"Carol@Example.com", "old"}, // the later pair wins
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"alice@example.com", "carol@example.com", "dave@example.com"}; !slices.Equal(changed, want) {
		t.Errorf("changed = %v, want %v", changed, want)
	}
	want := "# header\r\nAlice@Example.com old  # note\r\nbob@example.com old\r\ncarol@example.com old\r\ndave@example.com old\r\n"
	wantFile(t, path, "file", want)
	for id, d := range map[string]string{"alice@example.com": "old", "carol@example.com": "old", "dave@example.com": "old"} {
		if got := lookup(t, s, id); got != d {
			t.Errorf("%s -> %s, want %s", id, got, d)
		}
	}
	noTempFiles(t, path)
}

// A bad pair anywhere, the last one included, changes nothing: not the
// file, not the mapping in force.
func TestSetManyAllOrNothing(t *testing.T) {
	s, path := newStore(t, "a@x old\n")
	before := readFile(t, path)
	pairs := make([]Pair, 1000)
	for i := range pairs {
		pairs[i] = Pair{fmt.Sprintf("user%d@x", i), "new"}
	}
	pairs[len(pairs)-1].Destination = "nwe"
	_, err := s.SetMany(pairs)
	var be *BatchError
	if !errors.As(err, &be) || be.Index != len(pairs)-1 || !strings.Contains(err.Error(), `unknown destination "nwe"`) {
		t.Fatalf("SetMany: %v", err)
	}
	if readFile(t, path) != before || s.Len() != 1 || lookup(t, s, "user0@x") != "<none>" {
		t.Fatal("a failed batch changed something")
	}
	pairs[len(pairs)-1].Destination = "new"
	pairs[3].Identifier = "#x"
	if _, err := s.SetMany(pairs); !errors.As(err, &be) || be.Index != 3 {
		t.Fatalf("bad identifier: %v", err)
	}
	if readFile(t, path) != before {
		t.Fatal("a failed batch changed the file")
	}
}

// BenchmarkSetMany100k imports 100,000 new mappings into a file that
// already holds 100,000: one pass, one write.
func BenchmarkSetMany100k(b *testing.B) {
	var base strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&base, "old%d@example.com old\n", i)
	}
	pairs := make([]Pair, 100_000)
	for i := range pairs {
		pairs[i] = Pair{fmt.Sprintf("user%d@example.com", i), "new"}
	}
	dir := b.TempDir()
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(dir, "mapping.txt")
		if err := os.WriteFile(path, []byte(base.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		s, err := New(path, lowerOpts())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.SetMany(pairs); err != nil {
			b.Fatal(err)
		}
		if s.Len() != 200_000 {
			b.Fatalf("%d mappings", s.Len())
		}
	}
}
