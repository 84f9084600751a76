package filestore

import (
	"fmt"
	"strings"
)

// BatchError is returned by SetMany when one pair cannot be stored; Index
// is its position in the slice. Nothing was written.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("pair %d: %v", e.Index, e.Err) }

// Unwrap returns the cause.
func (e *BatchError) Unwrap() error { return e.Err }

// SetMany maps every pair's identifier (normalized) to its destination,
// all or nothing: every pair is checked first, then the file is rewritten
// once (one temporary file, fsync, rename), so the cost is one pass over
// the file and the pairs whatever their number. Lines that map one of the
// identifiers get its new destination; the others are appended in the
// order given. When the same identifier comes twice the later pair wins.
// changed is as for Set. On error nothing is written and the mapping in
// force is unchanged.
func (s *Store) SetMany(pairs []Pair) (changed []string, err error) {
	want := make(map[string]string, len(pairs))
	order := make([]string, 0, len(pairs))
	for i, p := range pairs {
		n := normalize(s.opt, p.Identifier)
		if msg := checkID(n); msg != "" {
			return nil, &BatchError{i, fmt.Errorf("filestore: identifier %q: %s", p.Identifier, msg)}
		}
		if msg := checkDest(p.Destination, s.opt); msg != "" {
			return nil, &BatchError{i, fmt.Errorf("filestore: %s", msg)}
		}
		if _, seen := want[n]; !seen {
			order = append(order, n)
		}
		want[n] = p.Destination
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, fid, _, err := s.readForEditLocked()
	if err != nil {
		return nil, err
	}
	out, edits := rewriteMany(string(data), want, order, s.opt)
	if edits == 0 {
		return s.installLocked(data, fid)
	}
	return s.writeLocked(out)
}

// rewriteMany is rewrite for many identifiers at once: one pass over
// data. edits counts the lines changed or added.
func rewriteMany(data string, want map[string]string, order []string, opt Options) (out string, edits int) {
	var b strings.Builder
	b.Grow(len(data) + len(order)*48)
	found := make(map[string]bool, len(want))
	copied := 0
	scan(data, func(l line) bool {
		if l.nfields != 2 {
			return true
		}
		id := normalize(opt, data[l.idStart:l.idEnd])
		dest, ok := want[id]
		if !ok {
			return true
		}
		found[id] = true
		if data[l.destStart:l.destEnd] == dest {
			return true
		}
		b.WriteString(data[copied:l.destStart])
		b.WriteString(dest)
		copied = l.destEnd
		edits++
		return true
	})
	b.WriteString(data[copied:])
	eol := "\n" // or the file's, as its first line ends
	if i := strings.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		eol = "\r\n"
	}
	needEOL := data != "" && !strings.HasSuffix(data, "\n")
	for _, id := range order {
		if found[id] {
			continue
		}
		if needEOL {
			b.WriteString(eol)
			needEOL = false
		}
		b.WriteString(id)
		b.WriteByte(' ')
		b.WriteString(want[id])
		b.WriteString(eol)
		edits++
	}
	return b.String(), edits
}
