package router

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/router/filestore"
)

var _ Store = (*filestore.Store)(nil)

// TestFileStoreWiring runs the router over a watched mapping file the way
// the engine wires them: the file's normalization is the router's, and the
// watcher invalidates what changed.
func TestFileStoreWiring(t *testing.T) {
	opt := Options{StripDetail: true, DefaultDestination: "old"}
	norm, err := NewNormalizer(opt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mapping.txt")
	if err := os.WriteFile(path, []byte("Alice@Example.com new # moved\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs, err := filestore.New(path, filestore.Options{
		Normalize: norm,
		Validate:  func(d string) bool { return d == "old" || d == "new" },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	r := mustNew(t, opt, fs)
	if !r.Inline() {
		t.Fatal("a file store must make the router inline")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go fs.Watch(ctx, 20*time.Millisecond, func(changed []string, err error) {
		if err == nil {
			r.Invalidate(changed...)
		}
	})

	if got := resolve(t, r, "ALICE+lists@example.COM"); got != (Result{Destination: "new", Source: SourceStore}) {
		t.Fatalf("alice: %+v", got)
	}
	if got := resolve(t, r, "bob@example.com"); got.Destination != "old" || got.Source != SourceDefault {
		t.Fatalf("bob: %+v", got)
	}
	resolve(t, r, "bob@example.com") // now cached as not mapped

	// A hand edit, renamed over the file, reaches the router.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte("alice@example.com old\nbob@example.com new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for resolve(t, r, "bob@example.com").Destination != "new" {
		if time.Now().After(deadline) {
			t.Fatal("the watched edit did not reach the router")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := resolve(t, r, "alice@example.com"); got.Destination != "old" {
		t.Fatalf("alice after edit: %+v", got)
	}

	// An edit through the store, invalidated by the caller.
	changed, err := fs.Set("Bob+x@Example.com", "old")
	if err != nil {
		t.Fatal(err)
	}
	r.Invalidate(changed...)
	if got := resolve(t, r, "bob@example.com"); got != (Result{Destination: "old", Source: SourceStore}) {
		t.Fatalf("bob after Set: %+v", got)
	}
}
