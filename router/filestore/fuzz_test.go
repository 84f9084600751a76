package filestore

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"a@x new\n",
	"# comment\r\nUser@Example.com   old # trailing\r\n\r\n",
	"a@x new\nA@X old\n",
	"lonely\n",
	"a b c\n",
	"a#b c#d\n",
	"  \t#\n\v\f\r\n",
	"x nwe",
	"a@x new\r",
	"\xff\xfe new\n",
}

func fuzzOpts() Options {
	return Options{
		Normalize: strings.ToLower,
		Validate:  func(d string) bool { return d != "nwe" && !strings.HasPrefix(d, "bad") },
	}
}

// serialize writes m back in the file format.
func serialize(m map[string]string) string {
	var b strings.Builder
	for k, v := range m {
		b.WriteString(k + "\t" + v + "\n")
	}
	return b.String()
}

// FuzzParseMappingFile checks that any input either parses into a mapping
// that survives a round trip through the file format, or fails with line
// errors that point inside the file.
func FuzzParseMappingFile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	opt := fuzzOpts()
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMapping("f", data, opt)
		if err != nil {
			lines := strings.Count(string(data), "\n") + 1
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error without a *ParseError: %v", err)
			}
			if pe.Line < 1 || pe.Line > lines || pe.File != "f" {
				t.Fatalf("error at line %d of a %d-line file: %v", pe.Line, lines, err)
			}
			return
		}
		for k, v := range m {
			if msg := checkID(k); msg != "" || opt.Normalize(k) != k {
				t.Fatalf("key %q: %s (or not normalized)", k, msg)
			}
			if msg := checkDest(v, opt); msg != "" {
				t.Fatalf("destination %q of %q: %s", v, k, msg)
			}
		}
		again, err := ParseMapping("f", []byte(serialize(m)), opt)
		if err != nil || !maps.Equal(m, again) {
			t.Fatalf("round trip: %v\n%v\n%v", err, m, again)
		}
	})
}

// FuzzRewrite checks that Set and Delete's rewrite changes exactly the
// mapping of one identifier and keeps every comment line.
func FuzzRewrite(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add([]byte(s), []string{"a@x", "user@example.com", "new@y"}[i%3], []string{"new", "old"}[i%2], i%2 == 0)
	}
	opt := fuzzOpts()
	f.Fuzz(func(t *testing.T, data []byte, id, dest string, del bool) {
		before, err := ParseMapping("f", data, opt)
		if err != nil {
			return
		}
		id = opt.Normalize(id)
		if checkID(id) != "" || opt.Normalize(id) != id || (!del && checkDest(dest, opt) != "") {
			return // Set and Delete refuse these before rewriting
		}
		out, found := rewrite(string(data), id, dest, del, opt)
		if _, ok := before[id]; ok != found {
			t.Fatalf("found = %v, but mapped = %v", found, ok)
		}
		after, err := ParseMapping("f", []byte(out), opt)
		if err != nil {
			t.Fatalf("rewrite produced a bad file: %v\n%q", err, out)
		}
		want := maps.Clone(before)
		if del {
			delete(want, id)
		} else {
			want[id] = dest
		}
		if !maps.Equal(after, want) {
			t.Fatalf("after rewrite: %v, want %v\n%q", after, want, out)
		}
		comments := func(s string) (n int) {
			for _, l := range strings.Split(s, "\n") {
				if strings.HasPrefix(strings.TrimLeft(l, " \t\r\v\f"), "#") {
					n++
				}
			}
			return n
		}
		if comments(out) != comments(string(data)) {
			t.Fatalf("comment lines lost:\n%q\n%q", data, out)
		}
	})
}
