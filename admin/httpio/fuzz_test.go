package httpio

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// escapeAll percent-encodes every byte outside [A-Za-z0-9._~@+-].
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._~@+-", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "identifier=alice@example.com", "identifier=user+tag%40example.com&destination=new",
		"identifier=a&identifier=b", "identifier=%", "identifier=%4", "identifier=%zz", "=x", "&&&",
		"identifier=%00", "identifier=%ff%fe", "seconds=30&identifier=b%C3%A9b", "a=b=c", "protocol",
		"seconds=%2B5", "seconds=99999999999999999999", "identifier=a%20b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseQuery(raw)
		if err != nil {
			if _, ok := err.(*ParamError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		names := make([]string, 0, len(q))
		for k, v := range q {
			if k == "" {
				t.Fatalf("empty name accepted in %q", raw)
			}
			if CheckText(k) != nil || CheckText(v) != nil {
				t.Fatalf("invalid text accepted: %q=%q from %q", k, v, raw)
			}
			names = append(names, k)
		}
		// Encoding the parsed query again parses back to the same values.
		sort.Strings(names)
		var parts []string
		for _, k := range names {
			parts = append(parts, escapeAll(k)+"="+escapeAll(q[k]))
		}
		again, err := ParseQuery(strings.Join(parts, "&"))
		if len(raw) <= MaxQueryLen/3 && (err != nil || !reflect.DeepEqual(again, q)) {
			t.Fatalf("round trip of %q: %v, %v", raw, again, err)
		}
		for _, name := range []string{"identifier", "destination"} {
			if v, ok, err := q.Optional(name, MaxIdentifierLen); err == nil && ok {
				if v == "" || strings.ContainsAny(v, " \t\r\n") || len(v) > MaxIdentifierLen {
					t.Fatalf("%s %q passed validation", name, v)
				}
			}
		}
		if n, err := q.Seconds("seconds", MaxDelaySeconds); err == nil && (n < 0 || n > MaxDelaySeconds) {
			t.Fatalf("seconds %d passed validation", n)
		}
	})
}

func FuzzParseImport(f *testing.F) {
	for _, s := range []string{
		"", "a@x new\n", "# comment\r\n\r\nA@x\tnew\r\n  b@x   old  \n", "a@x\n", "a@x new extra\n",
		"a@x new\na@x old\n", "\xff old\n", "a\x00b new\n", "#a b\n", "a #b\n", "a\u00a0b new\n", "a b",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pairs, lines, err := ParseImport(body)
		if err != nil {
			le, ok := err.(*LineError)
			if !ok || le.Line < 1 || le.Line > strings.Count(string(body), "\n")+1 {
				t.Fatalf("error %v does not name a line of the body", err)
			}
			return
		}
		if len(pairs) != len(lines) {
			t.Fatalf("%d pairs, %d line numbers", len(pairs), len(lines))
		}
		seen := map[string]bool{}
		var out strings.Builder
		for i, p := range pairs {
			if i > 0 && lines[i] <= lines[i-1] {
				t.Fatalf("line numbers not increasing: %v", lines)
			}
			if CheckToken("identifier", p.Identifier, MaxIdentifierLen) != "" || CheckToken("destination", p.Destination, MaxDestinationLen) != "" {
				t.Fatalf("invalid pair accepted: %q", p)
			}
			if seen[p.Identifier] {
				t.Fatalf("duplicate identifier accepted: %q", p.Identifier)
			}
			seen[p.Identifier] = true
			fmt.Fprintf(&out, "%s %s\n", p.Identifier, p.Destination)
		}
		// The export format of what was parsed parses to the same pairs.
		again, _, err := ParseImport([]byte(out.String()))
		if err != nil || !reflect.DeepEqual(again, pairs) {
			t.Fatalf("round trip: %v %v, want %v", again, err, pairs)
		}
	})
}
