package filestore

import (
	"errors"
	"fmt"
	"strings"
)

// ParseError is a problem on one line of a mapping file.
type ParseError struct {
	File string // the file's path ("" when parsing bytes without a name)
	Line int    // 1-based
	Msg  string
}

func (e *ParseError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: line %d: %s", e.File, e.Line, e.Msg)
}

// maxErrors bounds how many line errors one parse reports.
const maxErrors = 10

// line is one mapping line as found by scan. Offsets are into the file.
type line struct {
	no                 int
	start, end         int // the line without its line ending
	idStart, idEnd     int
	destStart, destEnd int
	nfields            int // 0 (blank or comment), 1, 2 or 3 (three or more)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

// scan calls fn for every line of data. A field ends at whitespace; '#'
// starts a comment where a field would start (so "a#b" is one field).
func scan(data string, fn func(l line) bool) {
	no := 0
	for pos := 0; pos < len(data); {
		no++
		end := strings.IndexByte(data[pos:], '\n')
		next := len(data)
		if end < 0 {
			end = len(data)
		} else {
			end += pos
			next = end + 1
		}
		l := line{no: no, start: pos, end: end}
		i := pos
		field := func() (int, int, bool) {
			for i < end && isSpace(data[i]) {
				i++
			}
			if i == end || data[i] == '#' {
				return 0, 0, false
			}
			s := i
			for i < end && !isSpace(data[i]) {
				i++
			}
			return s, i, true
		}
		var ok bool
		if l.idStart, l.idEnd, ok = field(); ok {
			l.nfields = 1
			if l.destStart, l.destEnd, ok = field(); ok {
				l.nfields = 2
				if _, _, ok = field(); ok {
					l.nfields = 3
				}
			}
		}
		if !fn(l) {
			return
		}
		pos = next
	}
}

// ParseMapping parses a mapping file's contents: one "identifier destination"
// pair per line, separated by whitespace; '#' starts a comment (a whole line,
// or after whitespace); blank lines are ignored; CRLF line endings are
// accepted. Identifiers are passed through opt.Normalize and destinations
// checked with opt.Validate. name only labels errors. On error the returned
// error lists up to ten *ParseError (use errors.As).
func ParseMapping(name string, data []byte, opt Options) (map[string]string, error) {
	return parse(name, string(data), opt)
}

func parse(name, data string, opt Options) (map[string]string, error) {
	m := make(map[string]string)     // normalized identifier -> destination
	first := make(map[string]int)    // normalized identifier -> its first line
	dests := make(map[string]string) // interned destinations
	var errs []error
	more := 0
	fail := func(no int, format string, args ...any) {
		if len(errs) < maxErrors {
			errs = append(errs, &ParseError{File: name, Line: no, Msg: fmt.Sprintf(format, args...)})
		} else {
			more++
		}
	}
	scan(data, func(l line) bool {
		switch l.nfields {
		case 0:
			return true
		case 1:
			fail(l.no, "missing destination for %q", data[l.idStart:l.idEnd])
			return true
		case 3:
			fail(l.no, "expected \"identifier destination\", found more than two fields")
			return true
		}
		raw, dest := data[l.idStart:l.idEnd], data[l.destStart:l.destEnd]
		id := normalize(opt, raw)
		if msg := checkID(id); msg != "" {
			fail(l.no, "identifier %q: %s", raw, msg)
			return true
		}
		if opt.Validate != nil && !opt.Validate(dest) {
			fail(l.no, "unknown destination %q", dest)
			return true
		}
		if d, ok := dests[dest]; ok {
			dest = d
		} else {
			dests[dest] = dest
		}
		if prev, dup := m[id]; dup {
			if prev != dest {
				fail(l.no, "%q maps to %q here but to %q on line %d", id, dest, prev, first[id])
			}
			return true
		}
		m[id] = dest
		first[id] = l.no
		return true
	})
	if len(errs) > 0 {
		if more > 0 {
			errs = append(errs, fmt.Errorf("%s: %d more errors", name, more))
		}
		return nil, errors.Join(errs...)
	}
	return m, nil
}

func normalize(opt Options, id string) string {
	if opt.Normalize == nil {
		return id
	}
	return opt.Normalize(id)
}

// checkID returns why a normalized identifier cannot be stored in a file, or "".
func checkID(id string) string {
	return checkField(id, "empty after normalization", "starts with '#'", "contains whitespace after normalization")
}

// checkDest returns why dest cannot be written to a file, or "".
func checkDest(dest string, opt Options) string {
	if msg := checkField(dest, "empty destination", "destination starts with '#'", "destination contains whitespace"); msg != "" {
		return msg
	}
	if opt.Validate != nil && !opt.Validate(dest) {
		return fmt.Sprintf("unknown destination %q", dest)
	}
	return ""
}

// checkField returns why f cannot be one field of a line, or "": the
// message given for an empty f, for a leading '#', or for whitespace.
func checkField(f, empty, hash, space string) string {
	if f == "" {
		return empty
	}
	if f[0] == '#' {
		return hash
	}
	for i := 0; i < len(f); i++ {
		if isSpace(f[i]) || f[i] == '\n' {
			return space
		}
	}
	return ""
}
