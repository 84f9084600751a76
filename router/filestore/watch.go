package filestore

import (
	"context"

	"os"
	"time"

	"github.com/switchyard-mail/switchyard/limits"
)

// fileID identifies one version of the file: a rename over it changes the
// inode, an in-place write the size or modification time.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    int64 // UnixNano
}

func statID(fi os.FileInfo) fileID {
	dev, ino := sysID(fi)
	return fileID{dev: dev, ino: ino, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// Watch polls the file every interval (limits.MappingWatchInterval if
// interval <= 0) and reloads it when its inode, size or modification time changes, which
// covers editors that write in place and tools that write a new file and
// rename it over the old one. After a successful reload that changed
// something it calls onChange(changed, nil); when the file cannot be read or
// has errors it calls onChange(nil, err) once per bad version, and the
// previous mapping stays in force. A changed file is loaded only once its
// size and modification time have held still for a quarter of the interval
// (5-250 ms), so that an in-place rewrite is not caught half-written;
// writing a new file and renaming it over the old one is still the safe
// way. Watch blocks until ctx is done or the store is closed; run it in its
// own goroutine.
func (s *Store) Watch(ctx context.Context, interval time.Duration, onChange func(changed []string, err error)) {
	interval = limits.Or(interval, limits.MappingWatchInterval)
	if onChange == nil {
		onChange = func([]string, error) {}
	}
	settle := min(max(interval/4, 5*time.Millisecond), 250*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	var (
		statErr string // the last stat error reported, so it is not repeated every tick
		bad     fileID // the last version that failed to load
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closed:
			return
		case <-t.C:
		}
		fi, err := os.Stat(s.path)
		if err != nil {
			if err.Error() != statErr {
				statErr = err.Error()
				onChange(nil, err)
			}
			continue
		}
		statErr = ""
		id := statID(fi)
		if id == bad || !s.stale(id) {
			continue
		}
		// Let a writer that rewrites the file in place finish: a file caught
		// between truncation and write would parse as an empty mapping.
		time.Sleep(settle)
		if fi, err = os.Stat(s.path); err != nil || statID(fi) != id {
			continue // still changing: look again at the next tick
		}
		changed, err := s.Reload()
		switch {
		case err != nil:
			bad = id
			onChange(nil, err)
		case len(changed) > 0:
			onChange(changed, nil)
		}
	}
}

// stale reports whether id is a version of the file that has been neither
// loaded nor found bad.
func (s *Store) stale(id fileID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return id != s.cur.Load().id && id != s.failed
}
