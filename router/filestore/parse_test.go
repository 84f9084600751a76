package filestore

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

var known = map[string]bool{"old": true, "new": true}

func lowerOpts() Options {
	return Options{Normalize: strings.ToLower, Validate: func(d string) bool { return known[d] }}
}

func TestParseMapping(t *testing.T) {
	data := "# accounts moved to the new server\r\n" +
		"User@Example.com   new\r\n" +
		"\r\n" +
		"   \t \n" +
		"  # indented comment\n" +
		"bob@example.com\told # moved back, ticket 42\n" +
		"carol@example.com old#no-space-so-not-a-comment-but-valid? \n" +
		"dave@example.com new\n" +
		"DAVE@example.com new\n" + // duplicate with the same destination: fine
		"eve@example.com old" // no final newline
	opt := lowerOpts()
	opt.Validate = func(d string) bool { return known[d] || d == "old#no-space-so-not-a-comment-but-valid?" }
	m, err := ParseMapping("map.txt", []byte(data), opt)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"user@example.com":  "new",
		"bob@example.com":   "old",
		"carol@example.com": "old#no-space-so-not-a-comment-but-valid?",
		"dave@example.com":  "new",
		"eve@example.com":   "old",
	}
	if !maps.Equal(m, want) {
		t.Fatalf("got %v\nwant %v", m, want)
	}
}

func TestParseMappingEmpty(t *testing.T) {
	for _, data := range []string{"", "\n\n", "# only a comment", "\r\n#x\r\n"} {
		m, err := ParseMapping("f", []byte(data), lowerOpts())
		if err != nil || len(m) != 0 {
			t.Fatalf("%q: %v %v", data, m, err)
		}
	}
}

func TestParseMappingErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string // each must appear in the error
	}{
		{"one field", "a@x new\nb@x\n", []string{`map.txt: line 2: missing destination for "b@x"`}},
		{"one field then comment", "b@x # new\n", []string{`line 1: missing destination`}},
		{"three fields", "a@x new old\n", []string{`map.txt: line 1: expected "identifier destination", found more than two fields`}},
		{"unknown destination", strings.Repeat("# c\n", 11) + "a@x nwe\n", []string{`map.txt: line 12: unknown destination "nwe"`}},
		{"duplicate", "A@x new\n#\nb@x old\na@X old\n", []string{`map.txt: line 4: "a@x" maps to "old" here but to "new" on line 1`}},
		{"several", "a\nb c d\ne nwe\n", []string{"line 1:", "line 2:", "line 3:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMapping("map.txt", []byte(tc.data), lowerOpts())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "map.txt" || pe.Line < 1 {
				t.Errorf("errors.As(*ParseError) = %+v", pe)
			}
		})
	}
}

func TestParseMappingErrorCap(t *testing.T) {
	data := strings.Repeat("lonely\n", 25)
	_, err := ParseMapping("big.txt", []byte(data), Options{})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if n := strings.Count(msg, "missing destination"); n != maxErrors {
		t.Fatalf("%d line errors reported, want %d", n, maxErrors)
	}
	if !strings.Contains(msg, "big.txt: 15 more errors") {
		t.Fatalf("no count of the errors left out: %q", msg)
	}
}

func TestParseMappingEmptyAfterNormalize(t *testing.T) {
	opt := Options{Normalize: func(s string) string { return strings.TrimPrefix(s, "x") }}
	_, err := ParseMapping("f", []byte("x new\n"), opt)
	if err == nil || !strings.Contains(err.Error(), `line 1: identifier "x": empty after normalization`) {
		t.Fatalf("err = %v", err)
	}
}

func TestRewrite(t *testing.T) {
	opt := lowerOpts()
	data := "# header\r\nA@x old # was here\r\nb@x new\r\n\r\na@X old\r\n# trailer"
	out, found := rewrite(data, "a@x", "new", false, opt)
	if want := "# header\r\nA@x new # was here\r\nb@x new\r\n\r\na@X new\r\n# trailer"; !found || out != want {
		t.Fatalf("set existing:\n%q\nwant\n%q", out, want)
	}
	out, found = rewrite(data, "c@x", "old", false, opt)
	if want := data + "\r\nc@x old\r\n"; found || out != want {
		t.Fatalf("append:\n%q\nwant\n%q", out, want)
	}
	out, found = rewrite(data, "a@x", "", true, opt)
	if want := "# header\r\nb@x new\r\n\r\n# trailer"; !found || out != want {
		t.Fatalf("delete:\n%q\nwant\n%q", out, want)
	}
	out, _ = rewrite("", "c@x", "old", false, opt)
	if out != "c@x old\n" {
		t.Fatalf("append to empty: %q", out)
	}
	out, _ = rewrite("a@x old", "a@x", "", true, opt)
	if out != "" {
		t.Fatalf("delete last line: %q", out)
	}
}
