package filestore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o640); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes a new file and renames it over path, as editors and
// configuration management tools do.
func replaceFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".new"
	writeFile(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func newStore(t *testing.T, data string) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mapping.txt")
	writeFile(t, path, data)
	s, err := New(path, lowerOpts())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func lookup(t *testing.T, s *Store, id string) string {
	t.Helper()
	d, ok, err := s.Lookup(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "<none>"
	}
	return d
}

// wantFile fails the test, saying when, unless path holds want.
func wantFile(t *testing.T, path, when, want string) {
	t.Helper()
	if got := readFile(t, path); got != want {
		t.Fatalf("%s:\n%q\nwant\n%q", when, got, want)
	}
}

// noTempFiles fails the test unless path is alone in its directory.
func noTempFiles(t *testing.T, path string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewAndLookup(t *testing.T) {
	s, path := newStore(t, "Alice@Example.com new\nbob@example.com old\n")
	if !s.Local() || s.Len() != 2 || s.Path() != path {
		t.Fatalf("Local=%v Len=%d Path=%q", s.Local(), s.Len(), s.Path())
	}
	if d := lookup(t, s, "alice@example.com"); d != "new" {
		t.Fatalf("alice: %s", d)
	}
	if d := lookup(t, s, "carol@example.com"); d != "<none>" {
		t.Fatalf("carol: %s", d)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(filepath.Join(dir, "missing"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := New(dir, Options{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: %v", err)
	}
	bad := filepath.Join(dir, "bad.txt")
	writeFile(t, bad, "a@x new\nb@x nwe\n")
	_, err := New(bad, lowerOpts())
	if err == nil || !strings.Contains(err.Error(), bad+`: line 2: unknown destination "nwe"`) {
		t.Fatalf("bad file: %v", err)
	}
}

func TestReloadChangedSet(t *testing.T) {
	s, path := newStore(t, "a@x old\nb@x old\nc@x new\n")
	writeFile(t, path, "# c removed, b remapped, d added, a untouched\nA@X old\nb@x new\nd@x new\n")
	changed, err := s.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b@x", "c@x", "d@x"}; !slices.Equal(changed, want) {
		t.Fatalf("changed = %v, want %v", changed, want)
	}
	if lookup(t, s, "b@x") != "new" || lookup(t, s, "c@x") != "<none>" || s.Len() != 3 {
		t.Fatal("new mapping not in force")
	}
	changed, err = s.Reload()
	if err != nil || len(changed) != 0 {
		t.Fatalf("reload of an unchanged file: %v, %v", changed, err)
	}
}

func TestReloadBadFileKeepsMapping(t *testing.T) {
	s, path := newStore(t, "a@x old\n")
	writeFile(t, path, "a@x new\nb@x\n")
	changed, err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), path+": line 2: missing destination") {
		t.Fatalf("Reload: %v", err)
	}
	if changed != nil || lookup(t, s, "a@x") != "old" {
		t.Fatal("a bad file replaced the mapping")
	}
}

// watchEvents runs Watch with a short interval and collects its calls.
type watchEvents struct {
	mu     sync.Mutex
	events []string
	done   chan struct{}
}

func startWatch(t *testing.T, s *Store) *watchEvents {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchEvents{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		s.Watch(ctx, 20*time.Millisecond, func(changed []string, err error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if err != nil {
				w.events = append(w.events, "error: "+err.Error())
			} else {
				w.events = append(w.events, strings.Join(changed, ","))
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

func (w *watchEvents) snapshot() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

// waitFor polls cond for at most 3 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatchInPlaceEdit(t *testing.T) {
	s, path := newStore(t, "a@x old\n")
	w := startWatch(t, s)
	writeFile(t, path, "a@x new\nb@x old\n")
	waitFor(t, "the edit", func() bool { return lookup(t, s, "a@x") == "new" })
	waitFor(t, "the callback", func() bool { return len(w.snapshot()) >= 1 })
	if ev := w.snapshot(); ev[len(ev)-1] != "a@x,b@x" {
		t.Fatalf("events = %q", ev)
	}
}

func TestWatchRenameOver(t *testing.T) {
	s, path := newStore(t, "a@x old\n")
	w := startWatch(t, s)
	// Same size and, on coarse clocks, possibly the same mtime: only the
	// inode tells the versions apart.
	replaceFile(t, path, "a@x new\n")
	waitFor(t, "the renamed file", func() bool { return lookup(t, s, "a@x") == "new" })
	waitFor(t, "the callback", func() bool { return len(w.snapshot()) == 1 })
	if ev := w.snapshot(); ev[0] != "a@x" {
		t.Fatalf("events = %q", ev)
	}
}

func TestWatchBadEditReportedOnce(t *testing.T) {
	s, path := newStore(t, "a@x old\n")
	w := startWatch(t, s)
	replaceFile(t, path, "a@x nwe\n")
	waitFor(t, "the error", func() bool { return len(w.snapshot()) >= 1 })
	if lookup(t, s, "a@x") != "old" {
		t.Fatal("the bad file replaced the mapping")
	}
	// The fix is the next event: the polls of the bad file in between
	// must not have repeated the error (no sleep to count them).
	replaceFile(t, path, "a@x new\n")
	waitFor(t, "the fix", func() bool { return lookup(t, s, "a@x") == "new" })
	waitFor(t, "the fix's callback", func() bool { ev := w.snapshot(); return ev[len(ev)-1] == "a@x" })
	ev := w.snapshot()
	if len(ev) != 2 || !strings.Contains(ev[0], `line 1: unknown destination "nwe"`) {
		t.Fatalf("events = %q, want one error, then the fix", ev)
	}
}

func TestWatchMissingFileReportedOnce(t *testing.T) {
	s, path := newStore(t, "a@x old\n")
	w := startWatch(t, s)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the error", func() bool { return len(w.snapshot()) >= 1 })
	if lookup(t, s, "a@x") != "old" {
		t.Fatal("mapping lost with the file")
	}
	// The new file is the next event: the polls in between must not
	// have repeated the error.
	writeFile(t, path, "a@x new\n")
	waitFor(t, "the new file", func() bool { return lookup(t, s, "a@x") == "new" })
	waitFor(t, "the new file's callback", func() bool { ev := w.snapshot(); return !strings.HasPrefix(ev[len(ev)-1], "error: ") })
	if ev := w.snapshot(); len(ev) != 2 || !strings.HasPrefix(ev[0], "error: ") || ev[1] != "a@x" {
		t.Fatalf("events = %q, want one error, then the new file", ev)
	}
}

func TestCloseStopsWatch(t *testing.T) {
	s, _ := newStore(t, "a@x old\n")
	done := make(chan struct{})
	go func() { s.Watch(context.Background(), 10*time.Millisecond, nil); close(done) }()
	s.Close()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Watch still running after Close")
	}
}

func TestSetAndDeletePreserveFile(t *testing.T) {
	orig := "# Accounts on the new cluster\r\n" +
		"\r\n" +
		"Alice@Example.com  new   # since March\r\n" +
		"  # bob is special\r\n" +
		"bob@example.com old\r\n"
	s, path := newStore(t, orig)
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	changed, err := s.Set("ALICE@example.com", "old")
	if err != nil || !slices.Equal(changed, []string{"alice@example.com"}) {
		t.Fatalf("Set: %v, %v", changed, err)
	}
	want := strings.Replace(orig, "Alice@Example.com  new   #", "Alice@Example.com  old   #", 1)
	wantFile(t, path, "after Set existing", want)
	if lookup(t, s, "alice@example.com") != "old" {
		t.Fatal("Set not in force")
	}

	if _, err := s.Set("Carol@Example.com", "new"); err != nil {
		t.Fatal(err)
	}
	want += "carol@example.com new\r\n"
	wantFile(t, path, "after Set new", want)

	changed, err = s.Delete("bob@EXAMPLE.com")
	if err != nil || !slices.Equal(changed, []string{"bob@example.com"}) {
		t.Fatalf("Delete: %v, %v", changed, err)
	}
	want = strings.Replace(want, "bob@example.com old\r\n", "", 1)
	wantFile(t, path, "after Delete", want)
	if lookup(t, s, "bob@example.com") != "<none>" || s.Len() != 2 {
		t.Fatal("Delete not in force")
	}

	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("permissions not kept: %v %v", fi.Mode(), err)
	}
	noTempFiles(t, path)
}

func TestSetDeleteErrors(t *testing.T) {
	s, path := newStore(t, "a@x old\n")
	before := readFile(t, path)
	for _, tc := range []struct{ id, dest, want string }{
		{"b@x", "nwe", `unknown destination "nwe"`},
		{"b@x", "", "empty destination"},
		{"b@x", "#new", "starts with '#'"},
		{"b x", "new", "whitespace"},
		{"#b", "new", "starts with '#'"},
		{"", "new", "empty"},
	} {
		if _, err := s.Set(tc.id, tc.dest); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Set(%q, %q): %v, want %q", tc.id, tc.dest, err, tc.want)
		}
	}
	if _, err := s.Delete("nobody@x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete of an unmapped id: %v", err)
	}
	if readFile(t, path) != before {
		t.Fatal("a failed edit changed the file")
	}
	// A file broken by hand is not edited.
	writeFile(t, path, "a@x old\nbroken\n")
	if _, err := s.Set("b@x", "new"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("Set on a broken file: %v", err)
	}
	if readFile(t, path) != "a@x old\nbroken\n" {
		t.Fatal("a broken file was rewritten")
	}
}

func TestSetPicksUpHandEdits(t *testing.T) {
	s, path := newStore(t, "a@x old\n")
	writeFile(t, path, "a@x old\nb@x new\n") // not reloaded yet
	changed, err := s.Set("c@x", "old")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b@x", "c@x"}; !slices.Equal(changed, want) {
		t.Fatalf("changed = %v, want %v", changed, want)
	}
	if got := readFile(t, path); got != "a@x old\nb@x new\nc@x old\n" {
		t.Fatalf("file = %q", got)
	}
	// Setting what is already there writes nothing but still loads the file.
	writeFile(t, path, "a@x old\nb@x new\nc@x old\nd@x new\n")
	changed, err = s.Set("a@x", "old")
	if err != nil || !slices.Equal(changed, []string{"d@x"}) {
		t.Fatalf("no-op Set: %v, %v", changed, err)
	}
}

func TestWatchIgnoresOwnEdits(t *testing.T) {
	s, path := newStore(t, "a@x old\n")
	w := startWatch(t, s)
	if _, err := s.Set("a@x", "new"); err != nil {
		t.Fatal(err)
	}
	// An outside edit after it is the next event, and the only one: the
	// store's own edit, seen by the polls before, is not reported.
	writeFile(t, path, "a@x new\nb@x old\n")
	waitFor(t, "the outside edit", func() bool { return len(w.snapshot()) >= 1 })
	if ev := w.snapshot(); len(ev) != 1 || ev[0] != "b@x" {
		t.Fatalf("events = %q, want only the outside edit (b@x)", ev)
	}
}

func TestSetThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.txt")
	link := filepath.Join(dir, "link.txt")
	writeFile(t, real, "a@x old\n")
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	s, err := New(link, lowerOpts())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set("a@x", "new"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the symbolic link was replaced by a file")
	}
	if readFile(t, real) != "a@x new\n" {
		t.Fatal("the link's target was not updated")
	}
}

func TestConcurrentReadersDuringReload(t *testing.T) {
	s, path := newStore(t, "a@x old\nb@x old\n")
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Value
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for _, id := range []string{"a@x", "b@x"} {
					d, ok, _ := s.Lookup(context.Background(), id)
					if !ok || (d != "old" && d != "new") {
						bad.Store(id + " -> " + d)
					}
				}
				_ = s.Len()
			}
		}()
	}
	for i := 0; i < 50; i++ {
		dest := []string{"old", "new"}[i%2]
		if i%3 == 0 {
			replaceFile(t, path, "a@x "+dest+"\nb@x "+dest+"\n")
		} else {
			writeFile(t, path, "a@x "+dest+"\nb@x "+dest+"\n")
		}
		if _, err := s.Reload(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Set("a@x", dest); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatalf("a reader saw %v", v)
	}
}

func TestList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.txt")
	writeFile(t, path, "C@x new\na@x old\nB@x new\n# comment\nd@x old\n")
	s, err := New(path, Options{Normalize: strings.ToLower})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var got []string
	cursor := ""
	for {
		page, next, err := s.List(ctx, cursor, "", 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			got = append(got, p.Identifier+"="+p.Destination)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if want := []string{"a@x=old", "b@x=new", "c@x=new", "d@x=old"}; !slices.Equal(got, want) {
		t.Fatalf("pages: %q, want %q", got, want)
	}
	page, next, _ := s.List(ctx, "", "B@", 10)
	if len(page) != 1 || page[0].Identifier != "b@x" || next != "" {
		t.Fatalf("match: %v %q", page, next)
	}
	// A cursor that is no longer in the file still pages on from its place.
	page, _, _ = s.List(ctx, "bb@x", "", 10)
	if len(page) != 2 || page[0].Identifier != "c@x" {
		t.Fatalf("after a removed cursor: %v", page)
	}
	if c, _ := s.Count(ctx); c["old"] != 2 || c["new"] != 2 {
		t.Fatalf("Count = %v", c)
	}
	if _, err := s.Set("e@x", "new"); err != nil {
		t.Fatal(err)
	}
	if page, _, _ = s.List(ctx, "d@x", "", 10); len(page) != 1 || page[0].Identifier != "e@x" {
		t.Fatalf("after Set: %v", page)
	}
}
