package httpio

import (
	"bytes"
	"fmt"

	"github.com/switchyard-mail/switchyard/admin/backend"
)

// lineError is a bulk-import error that names the line (1-based).
type LineError struct {
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// parseImport parses a bulk-import body: one "identifier destination" pair
// per line, fields separated by spaces or tabs, blank lines and lines whose
// first non-blank character is '#' ignored, CRLF accepted (the format of
// GET /mappings/export and of the file mapping store). The same identifier
// twice is an error, whatever the destinations. lines[i] is the line
// number of pairs[i].
func ParseImport(body []byte) (pairs []backend.Pair, lines []int, err error) {
	seen := map[string]int{}
	n := 0
	for len(body) > 0 {
		n++
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		f := fields(line)
		if len(f) == 0 || f[0][0] == '#' {
			continue
		}
		if len(f) != 2 {
			return nil, nil, &LineError{n, fmt.Sprintf("want \"identifier destination\", got %d field(s)", len(f))}
		}
		id, dest := string(f[0]), string(f[1])
		if msg := CheckToken("identifier", id, MaxIdentifierLen); msg != "" {
			return nil, nil, &LineError{n, "identifier " + msg}
		}
		if msg := CheckToken("destination", dest, MaxDestinationLen); msg != "" {
			return nil, nil, &LineError{n, "destination " + msg}
		}
		if prev, dup := seen[id]; dup {
			return nil, nil, &LineError{n, fmt.Sprintf("identifier %q already given on line %d", id, prev)}
		}
		seen[id] = n
		pairs = append(pairs, backend.Pair{Identifier: id, Destination: dest})
		lines = append(lines, n)
	}
	return pairs, lines, nil
}

// fields splits on runs of spaces and tabs only (not on other bytes
// bytes.Fields would treat as space, which checkToken then reports).
func fields(b []byte) [][]byte {
	var out [][]byte
	for {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
			b = b[1:]
		}
		if len(b) == 0 {
			return out
		}
		i := 0
		for i < len(b) && b[i] != ' ' && b[i] != '\t' {
			i++
		}
		out = append(out, b[:i])
		b = b[i:]
	}
}
