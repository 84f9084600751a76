package filestore

import "strings"

// rewrite returns data with every mapping line for the normalized identifier
// id changed to dest, or removed when del is set; when no line maps id and
// del is not set, a line "id dest" is appended. Every other byte is kept:
// comments, blank lines, other mappings, line endings. found reports whether
// a line mapped id. data must parse without errors.
func rewrite(data, id, dest string, del bool, opt Options) (out string, found bool) {
	var b strings.Builder
	b.Grow(len(data) + len(id) + len(dest) + 3)
	copied := 0
	scan(data, func(l line) bool {
		if l.nfields != 2 || normalize(opt, data[l.idStart:l.idEnd]) != id {
			return true
		}
		found = true
		if del {
			next := l.end
			if next < len(data) {
				next++ // the '\n'
			}
			b.WriteString(data[copied:l.start])
			copied = next
			return true
		}
		b.WriteString(data[copied:l.destStart])
		b.WriteString(dest)
		copied = l.destEnd
		return true
	})
	b.WriteString(data[copied:])
	if !found && !del {
		eol := "\n" // or the file's, as its first line ends
		if i := strings.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
			eol = "\r\n"
		}
		if data != "" && !strings.HasSuffix(data, "\n") {
			b.WriteString(eol)
		}
		b.WriteString(id)
		b.WriteByte(' ')
		b.WriteString(dest)
		b.WriteString(eol)
	}
	return b.String(), found
}
