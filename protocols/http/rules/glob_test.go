package rules

import (
	"path"
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		glob string
		yes  []string
		no   []string
	}{
		{"/jmap", []string{"/jmap"}, []string{"/jmap/", "/jmapx", "/Jmap", "/"}},
		{"/jmap/*", []string{"/jmap/", "/jmap/api", "/jmap/a.b"}, []string{"/jmap", "/jmap/a/b"}},
		{"/jmap/**", []string{"/jmap", "/jmap/", "/jmap/api", "/jmap/a/b/c"}, []string{"/jmapx", "/jma", "/other/jmap/x"}},
		{"/**", []string{"/", "/a", "/a/b/", "/x"}, []string{"*"}},
		{"**", []string{"", "/", "*", "/a/b"}, nil},
		{"/a/**/b", []string{"/a/b", "/a/x/b", "/a/x/y/b"}, []string{"/a/xb", "/ab", "/a/b/c"}},
		{"/a/**b", []string{"/a/b", "/a/xb", "/a/x/yb"}, []string{"/a/x/y"}},
		{"/dav/*/calendars/**", []string{"/dav/u/calendars", "/dav/u/calendars/x/y"}, []string{"/dav/u/v/calendars/x", "/dav//x"}},
		{"/file.?", []string{"/file.a", "/file.1"}, []string{"/file.", "/file.ab", "/file./"}},
		{"/[a-c]x", []string{"/ax", "/bx", "/cx"}, []string{"/dx", "/Ax", "//x"}},
		{"/[!a-c]x", []string{"/dx", "/-x"}, []string{"/ax", "//x"}},
		{"/[^0-9]", []string{"/a"}, []string{"/5", "//"}},
		{"/{jmap,dav}/**", []string{"/jmap", "/dav/x", "/jmap/a/b"}, []string{"/caldav/x", "/{jmap,dav}/x"}},
		{"/{a,b}/{c,d}", []string{"/a/c", "/b/d", "/a/d"}, []string{"/a/b", "/c/a"}},
		{"/{,x}y", []string{"/y", "/xy"}, []string{"/xxy"}},
		{"/\\*", []string{"/*"}, []string{"/a"}},
		{"/a\\{b\\}", []string{"/a{b}"}, []string{"/ab"}},
		{"/[{]", []string{"/{"}, []string{"/a"}},
		{"/.well-known/{jmap,caldav,carddav}", []string{"/.well-known/jmap", "/.well-known/carddav"}, []string{"/.well-known/x"}},
		{"/a*b*c", []string{"/abc", "/aXbYc", "/abbc"}, []string{"/ab/c", "/acb"}},
	}
	for _, tt := range tests {
		g, err := CompileGlob(tt.glob)
		if err != nil {
			t.Fatalf("%q: %v", tt.glob, err)
		}
		if g.String() != tt.glob {
			t.Fatalf("String %q", g.String())
		}
		for want, paths := range map[bool][]string{true: tt.yes, false: tt.no} {
			for _, p := range paths {
				if g.Match(p) != want {
					t.Errorf("%q matching %q: %v, want %v", tt.glob, p, !want, want)
				}
			}
		}
	}
}

func TestGlobErrors(t *testing.T) {
	for _, g := range []string{"", "/[", "/]", "/[]", "/[!]", "/{a", "/a}", "/{a,{b}}", "/a\\", "/[z-a]",
		strings.Repeat("{a,b}", 7), strings.Repeat("a", maxGlobTokens+1)} {
		if _, err := CompileGlob(g); err == nil {
			t.Errorf("%q compiled", g)
		}
	}
}

// TestGlobAgreesWithPathMatch: without "**" and braces, a glob is
// path.Match's pattern, which is segment-aware too.
func TestGlobAgreesWithPathMatch(t *testing.T) {
	globs := []string{"/a/*", "/*/b", "/a?c", "/[a-c]/*", "/x/*.json", "/*/*/*"}
	paths := []string{"/a/b", "/a/", "/a", "/abc", "/a/b/c", "/b/b", "/x/y.json", "/x/y/z.json", "/q/r/s", "/a/c"}
	for _, gs := range globs {
		g, err := CompileGlob(gs)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			want, _ := path.Match(gs, p)
			if g.Match(p) != want {
				t.Errorf("%q on %q: %v, path.Match says %v", gs, p, !want, want)
			}
		}
	}
}

// TestGlobIsLinear: a pattern that makes backtracking matchers explode
// stays cheap.
func TestGlobIsLinear(t *testing.T) {
	g, err := CompileGlob("/" + strings.Repeat("**a", 30) + "b")
	if err != nil {
		t.Fatal(err)
	}
	p := "/" + strings.Repeat("a", 8000)
	if g.Match(p) {
		t.Fatal("matched")
	}
}

func TestNormalizePath(t *testing.T) {
	tests := map[string]string{
		"/":                 "/",
		"/a/b":              "/a/b",
		"/a/b/":             "/a/b/",
		"//a///b":           "/a/b",
		"/a/./b":            "/a/b",
		"/a/../b":           "/b",
		"/../../b":          "/b",
		"/a/b/..":           "/a/",
		"/a/b/.":            "/a/b/",
		"/a/..":             "/",
		"/%61%62":           "/ab",
		"/%2e%2E/x":         "/x",
		"/a/%2E%2E/b":       "/b",
		"/a%2fb":            "/a%2Fb",
		"/a%2Fb/../c":       "/c",
		"/%7e":              "/~",
		"/%zz":              "/%zz",
		"*":                 "*",
		"/.well-known/jmap": "/.well-known/jmap",
		"/a..b/.c":          "/a..b/.c",
	}
	for in, want := range tests {
		if got := normalizePath(in); got != want {
			t.Errorf("normalizePath(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { normalizePath("/jmap/api/x") }); n != 0 {
		t.Fatalf("%v allocations for a clean path", n)
	}
}
