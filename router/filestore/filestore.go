// Package filestore is a router.Store backed by a plain-text mapping file,
// with hot reload and atomic edits.
//
// File format: one "identifier destination" pair per line, separated by
// whitespace. '#' starts a comment, on a whole line or after whitespace.
// Blank lines are ignored and CRLF line endings are accepted. Identifiers are
// normalized on load (so the file may say User@Example.com). A line with
// one field or more than two, a destination that Options.Validate rejects,
// or an identifier mapped to two different destinations is an error that
// names the file and the line(s); a file with any error is not loaded and
// the previous mapping stays in force.
package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotFound is returned (wrapped) by Delete for an identifier that has no
// mapping.
var ErrNotFound = errors.New("filestore: identifier not mapped")

// Options configures a Store.
type Options struct {
	// Normalize canonicalizes identifiers when the file is loaded and in Set
	// and Delete; use router.NewNormalizer so that the keys match what the
	// router looks up. It must be idempotent. nil keeps identifiers as
	// written.
	Normalize func(string) string
	// Validate reports whether a destination id exists. nil accepts any.
	Validate func(dest string) bool
}

// Store maps normalized identifiers to destinations from a file. Lookups
// read an immutable snapshot that reloads replace atomically, so they are
// safe and never block while a reload runs.
type Store struct {
	path string
	opt  Options
	cur  atomic.Pointer[snapshot]

	mu     sync.Mutex // serializes Reload, Set, Delete
	failed fileID     // the file version whose last load failed

	closeOnce sync.Once
	closed    chan struct{}
}

type snapshot struct {
	m  map[string]string
	id fileID // the version of the file m was loaded from

	sortOnce sync.Once
	sorted   []string // m's keys in order, for List
}

// New loads the mapping file at path. It fails if the file cannot be read or
// has errors.
func New(path string, opt Options) (*Store, error) {
	s := &Store{path: path, opt: opt, closed: make(chan struct{})}
	s.cur.Store(&snapshot{m: map[string]string{}})
	if _, err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the mapping file's path.
func (s *Store) Path() string { return s.path }

// Lookup returns the destination mapped to the normalized identifier id.
// It never blocks and never fails.
func (s *Store) Lookup(_ context.Context, id string) (string, bool, error) {
	d, ok := s.cur.Load().m[id]
	return d, ok, nil
}

// Local reports true: lookups are in memory.
func (s *Store) Local() bool { return true }

// Close stops Watch loops. Lookups keep working on the last mapping.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

// Len returns the number of mapped identifiers.
func (s *Store) Len() int { return len(s.cur.Load().m) }

// Reload reads the file again. On success it installs the new mapping and
// returns the normalized identifiers whose destination changed (added,
// removed or remapped), sorted, so the caller can invalidate just those. On
// error the previous mapping stays in force.
func (s *Store) Reload() (changed []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, id, err := readStable(s.path)
	if err != nil {
		return nil, err
	}
	return s.installLocked(data, id)
}

func (s *Store) installLocked(data []byte, id fileID) ([]string, error) {
	m, err := parse(s.path, string(data), s.opt)
	if err != nil {
		s.failed = id
		return nil, err
	}
	s.failed = fileID{}
	old := s.cur.Swap(&snapshot{m: m, id: id})
	return diff(old.m, m), nil
}

func diff(old, cur map[string]string) []string {
	var changed []string
	for k, v := range cur {
		if ov, ok := old[k]; !ok || ov != v {
			changed = append(changed, k)
		}
	}
	for k := range old {
		if _, ok := cur[k]; !ok {
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)
	return changed
}

// readStable reads the file and the identity of the version read. If the
// file changes while it is read (an in-place write), it tries again.
func readStable(path string) ([]byte, fileID, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
		}
		data, id, changed, err := readOnce(path)
		if err != nil {
			return nil, fileID{}, err
		}
		if !changed {
			return data, id, nil
		}
		lastErr = fmt.Errorf("filestore: %s: file keeps changing while being read", path)
	}
	return nil, fileID{}, lastErr
}

func readOnce(path string) (data []byte, id fileID, changed bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileID{}, false, fmt.Errorf("filestore: %w", err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, fileID{}, false, fmt.Errorf("filestore: %w", err)
	}
	if !before.Mode().IsRegular() {
		return nil, fileID{}, false, fmt.Errorf("filestore: %s: not a regular file", path)
	}
	var buf bytes.Buffer
	buf.Grow(int(before.Size()) + 512)
	if _, err := io.Copy(&buf, f); err != nil {
		return nil, fileID{}, false, fmt.Errorf("filestore: %s: %w", path, err)
	}
	after, err := f.Stat()
	if err != nil {
		return nil, fileID{}, false, fmt.Errorf("filestore: %w", err)
	}
	id = statID(after)
	return buf.Bytes(), id, id != statID(before) || int64(buf.Len()) != after.Size(), nil
}

// Set maps id (normalized) to dest and rewrites the file atomically,
// keeping comments and every other line. Lines that map id get the new
// destination; if there are none, a line is appended. The file on disk must
// be valid. The new mapping is in force when Set returns; changed lists the
// identifiers to invalidate in the router's cache, as Reload does: id
// itself when its destination changed, plus any edit made to the file by
// hand that had not been loaded yet.
func (s *Store) Set(id, dest string) (changed []string, err error) {
	n := normalize(s.opt, id)
	if msg := checkID(n); msg != "" {
		return nil, fmt.Errorf("filestore: identifier %q: %s", id, msg)
	}
	if msg := checkDest(dest, s.opt); msg != "" {
		return nil, fmt.Errorf("filestore: %s", msg)
	}
	return s.edit(n, dest, false)
}

// Delete removes every line that maps id (normalized), rewriting the file
// atomically, and returns the identifiers whose destination changed, as
// Set does. It returns an error wrapping ErrNotFound when no line maps id.
func (s *Store) Delete(id string) (changed []string, err error) {
	n := normalize(s.opt, id)
	if msg := checkID(n); msg != "" {
		return nil, fmt.Errorf("filestore: identifier %q: %s", id, msg)
	}
	return s.edit(n, "", true)
}

func (s *Store) edit(id, dest string, del bool) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, fid, m, err := s.readForEditLocked()
	if err != nil {
		return nil, err
	}
	if del {
		if _, ok := m[id]; !ok {
			return nil, fmt.Errorf("filestore: %s: %q: %w", s.path, id, ErrNotFound)
		}
	} else if m[id] == dest {
		// Nothing to write; install what is on disk in case it was not yet.
		return s.installLocked(data, fid)
	}
	out, _ := rewrite(string(data), id, dest, del, s.opt)
	return s.writeLocked(out)
}

// readForEditLocked reads and parses the file for an edit: what is on
// disk now, not what was last loaded (a hand edit that the watcher has
// not picked up yet must not be lost). A file with errors is not edited.
func (s *Store) readForEditLocked() (data []byte, fid fileID, m map[string]string, err error) {
	if data, fid, err = readStable(s.path); err != nil {
		return nil, fileID{}, nil, err
	}
	if m, err = parse(s.path, string(data), s.opt); err != nil {
		return nil, fileID{}, nil, fmt.Errorf("filestore: not editing a file with errors: %w", err)
	}
	return data, fid, m, nil
}

// writeLocked replaces the file with out (atomically) and installs it.
func (s *Store) writeLocked(out string) ([]string, error) {
	fid, err := writeAtomic(s.path, []byte(out))
	if err != nil {
		return nil, err
	}
	return s.installLocked([]byte(out), fid)
}

// writeAtomic replaces the file at path (following symbolic links) with
// data: a temporary file in the same directory, fsync, rename over the old
// file, fsync of the directory. The old file's permissions are kept.
func writeAtomic(path string, data []byte) (fileID, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fileID{}, fmt.Errorf("filestore: %w", err)
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return fileID{}, fmt.Errorf("filestore: %w", err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fileID{}, fmt.Errorf("filestore: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fileID{}, fmt.Errorf("filestore: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fileID{}, fmt.Errorf("filestore: %w", err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return fileID{}, fmt.Errorf("filestore: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fileID{}, fmt.Errorf("filestore: %w", err)
	}
	if err := os.Rename(tmpName, target); err != nil {
		return fileID{}, fmt.Errorf("filestore: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: the rename is done either way
		d.Close()
	}
	return statID(fi), nil
}

// sortedIDs returns the snapshot's identifiers in order, computed once
// per snapshot (a reload makes a new one).
func (sn *snapshot) sortedIDs() []string {
	sn.sortOnce.Do(func() {
		ids := make([]string, 0, len(sn.m))
		for id := range sn.m {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		sn.sorted = ids
	})
	return sn.sorted
}

// Pair is one mapping listed by List.
type Pair struct{ Identifier, Destination string }

// List pages through the mappings in force, in identifier order, as
// router.Lister does (this package does not import the router; wrap it):
// the cursor is the last identifier of the previous page, and match is
// compared without regard to ASCII case.
func (s *Store) List(_ context.Context, cursor, match string, limit int) ([]Pair, string, error) {
	sn := s.cur.Load()
	ids := sn.sortedIDs()
	i := 0
	if cursor != "" {
		i, _ = slices.BinarySearch(ids, cursor)
		if i < len(ids) && ids[i] == cursor {
			i++
		}
	}
	match = strings.ToLower(match)
	var page []Pair
	for ; i < len(ids) && len(page) < limit; i++ {
		if match != "" && !strings.Contains(strings.ToLower(ids[i]), match) {
			continue
		}
		page = append(page, Pair{Identifier: ids[i], Destination: sn.m[ids[i]]})
	}
	next := ""
	if i < len(ids) && len(page) > 0 {
		next = page[len(page)-1].Identifier
	}
	return page, next, nil
}

// Count returns how many mappings name each destination.
func (s *Store) Count(context.Context) (map[string]int, error) {
	out := map[string]int{}
	for _, d := range s.cur.Load().m {
		out[d]++
	}
	return out, nil
}
