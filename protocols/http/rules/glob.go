package rules

import (
	"errors"
	"strings"

	"github.com/switchyard-mail/switchyard/protocols/http/codec"
)

// Glob is a compiled path glob of an HTTP route ([[http.route]] match).
// Paths are matched segment by segment:
//
//   - "*" matches any run of octets within one segment (no "/"), "?" one
//     octet other than "/", and "[...]" one octet of a class ("[a-z0-9]",
//     "[!/]" or "[^x]" to negate; never "/").
//   - "**" matches anything, "/" included. A "**" that is a whole segment
//     also matches no segment at all: "/a/**/b" matches "/a/b", and
//     "/jmap/**" matches "/jmap" as well as "/jmap/" and "/jmap/x/y".
//   - "{a,b}" matches either alternative; an alternative may hold any of
//     the above but no further braces.
//   - "\x" matches x literally.
//
// Matching is case-sensitive and runs in time proportional to the path
// times the pattern, whatever the pattern (no backtracking).
type Glob struct {
	src  string
	alts [][]globTok // one per brace alternative
}

type globKind uint8

const (
	gLit   globKind = iota // one octet
	gAny                   // ?: one octet but "/"
	gClass                 // [...]
	gStar                  // *: octets but "/"
	gDStar                 // **: any octets
)

type globTok struct {
	kind  globKind
	b     byte
	neg   bool
	class *[256]bool
	// skip, when positive, lets a match step over this token and the next
	// skip-1 without consuming anything: the "/" before a final "**".
	skip int
	// jump, when positive, lets the octet this token matches also skip
	// the next jump tokens: the "/" before "**/" then stands for "/**/".
	jump int
}

// Bounds on what one glob may cost: the alternatives braces produce and
// the tokens of each.
const (
	maxGlobAlts   = 64
	maxGlobTokens = 512
)

// CompileGlob compiles a route's path glob. The syntax is what the
// configuration check accepts: balanced, non-empty classes and one level
// of braces.
func CompileGlob(pattern string) (*Glob, error) {
	if pattern == "" {
		return nil, errors.New("empty glob")
	}
	alts, err := expandBraces(pattern)
	if err != nil {
		return nil, err
	}
	g := &Glob{src: pattern}
	for _, a := range alts {
		toks, err := globTokens(a)
		if err != nil {
			return nil, err
		}
		g.alts = append(g.alts, toks)
	}
	return g, nil
}

// String returns the pattern as written.
func (g *Glob) String() string { return g.src }

// expandBraces turns "{a,b}" groups into the alternatives they stand for
// (their product when there are several groups). Escapes and classes are
// kept as they are for globTokens.
func expandBraces(p string) ([]string, error) {
	alts := []string{""}
	var opts []string // the options of the group being read
	lit := 0          // start of the literal run not yet appended
	start := -1       // start of the current option; -1 outside a group
	for i := 0; i < len(p); i++ {
		group := start >= 0
		switch p[i] {
		case '\\':
			i++
			if i >= len(p) && !group {
				return nil, errors.New("dangling escape at the end")
			}
		case '[':
			var err error
			if i, err = classEnd(p, i); err != nil {
				return nil, err
			}
		case ']':
			if !group {
				return nil, errors.New("unopened ']'")
			}
		case '{':
			if group {
				return nil, errors.New("nested '{' is not supported")
			}
			for k := range alts {
				alts[k] += p[lit:i]
			}
			opts, start = nil, i+1
		case ',':
			if group {
				opts = append(opts, p[start:i])
				start = i + 1
			}
		case '}':
			if !group {
				return nil, errors.New("unopened '}'")
			}
			opts = append(opts, p[start:i])
			if len(alts)*len(opts) > maxGlobAlts {
				return nil, errors.New("too many brace alternatives")
			}
			next := make([]string, 0, len(alts)*len(opts))
			for _, a := range alts {
				for _, o := range opts {
					next = append(next, a+o)
				}
			}
			alts, lit, start = next, i+1, -1
		}
	}
	if start >= 0 {
		return nil, errors.New("unclosed '{'")
	}
	for k := range alts {
		alts[k] += p[lit:]
	}
	return alts, nil
}

// classEnd returns the index of the ']' that closes the class opened at
// p[i] (a class holds no ']' of its own, nor escapes).
func classEnd(p string, i int) (int, error) {
	j := strings.IndexByte(p[i+1:], ']')
	if j < 0 {
		return 0, errors.New("unclosed '['")
	}
	return i + 1 + j, nil
}

// globTokens compiles one brace-free alternative.
func globTokens(p string) ([]globTok, error) {
	var toks []globTok
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '\\':
			i++
			if i >= len(p) {
				return nil, errors.New("dangling escape at the end")
			}
			toks = append(toks, globTok{kind: gLit, b: p[i]})
		case '?':
			toks = append(toks, globTok{kind: gAny})
		case '*':
			if i+1 < len(p) && p[i+1] == '*' {
				for i+1 < len(p) && p[i+1] == '*' {
					i++
				}
				toks = append(toks, globTok{kind: gDStar})
			} else {
				toks = append(toks, globTok{kind: gStar})
			}
		case '[':
			end, err := classEnd(p, i)
			if err != nil {
				return nil, err
			}
			t, err := globClass(p[i+1 : end])
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = end
		case ']':
			return nil, errors.New("unopened ']'")
		default:
			toks = append(toks, globTok{kind: gLit, b: c})
		}
		if len(toks) > maxGlobTokens {
			return nil, errors.New("glob too long")
		}
	}
	// A "**" that is a whole segment may also stand for no segment.
	for k := range toks {
		if toks[k].kind != gDStar || k == 0 || !isSlash(toks[k-1]) {
			continue
		}
		switch {
		case k == len(toks)-1:
			toks[k-1].skip = 2 // "/**" at the end: the "/" and "**" may both be absent
		case isSlash(toks[k+1]):
			toks[k-1].jump = 2 // "/**/": "**/" may be absent
		}
	}
	return toks, nil
}

func isSlash(t globTok) bool { return t.kind == gLit && t.b == '/' }

// globClass compiles the inside of "[...]": octets and ranges ("a-z"), "!"
// or "^" first to negate. "/" never matches.
func globClass(s string) (globTok, error) {
	t := globTok{kind: gClass, class: new([256]bool)}
	if s != "" && (s[0] == '!' || s[0] == '^') {
		t.neg = true
		s = s[1:]
	}
	if s == "" {
		return t, errors.New("empty character class")
	}
	for i := 0; i < len(s); i++ {
		lo, hi := s[i], s[i]
		if i+2 < len(s) && s[i+1] == '-' {
			hi = s[i+2]
			i += 2
			if hi < lo {
				return t, errors.New("character range out of order")
			}
		}
		for c := int(lo); c <= int(hi); c++ {
			t.class[c] = true
		}
	}
	return t, nil
}

// Match reports whether path matches the glob. The relay matches the
// normalized path (see normalizePath); Match itself takes path as given.
func (g *Glob) Match(path string) bool {
	for _, toks := range g.alts {
		if matchTokens(toks, path) {
			return true
		}
	}
	return false
}

// matchTokens simulates the glob as an automaton: state j means "tokens
// before j have matched". At most len(toks)+1 states, so the cost is
// bounded by len(path)*len(toks).
func matchTokens(toks []globTok, path string) bool {
	n := len(toks) + 1
	var buf [2 * 64]bool
	var cur, next []bool
	if 2*n <= len(buf) {
		cur, next = buf[:n], buf[n:2*n]
	} else {
		s := make([]bool, 2*n)
		cur, next = s[:n], s[n:]
	}
	addClosure(toks, cur, 0)
	for i := 0; i < len(path); i++ {
		c := path[i]
		clear(next)
		alive := false
		for j := 0; j < len(toks); j++ {
			if !cur[j] {
				continue
			}
			t := toks[j]
			switch t.kind {
			case gLit:
				if c == t.b {
					addClosure(toks, next, j+1)
					if t.jump > 0 {
						addClosure(toks, next, j+1+t.jump)
					}
					alive = true
				}
			case gAny:
				if c != '/' {
					addClosure(toks, next, j+1)
					alive = true
				}
			case gClass:
				if c != '/' && t.class[c] != t.neg {
					addClosure(toks, next, j+1)
					alive = true
				}
			case gStar:
				if c != '/' {
					addClosure(toks, next, j)
					alive = true
				}
			case gDStar:
				addClosure(toks, next, j)
				alive = true
			}
		}
		if !alive {
			return false
		}
		cur, next = next, cur
	}
	return cur[len(toks)]
}

// addClosure adds state j and what it reaches without consuming octets.
func addClosure(toks []globTok, set []bool, j int) {
	for !set[j] {
		set[j] = true
		if j == len(toks) {
			return
		}
		t := toks[j]
		if t.skip > 0 {
			addClosure(toks, set, j+t.skip)
		}
		if t.kind != gStar && t.kind != gDStar {
			return
		}
		j++
	}
}

// normalizePath is the path routes are matched against: percent-escapes
// of unreserved characters decoded (RFC 3986 6.2.2.2: "%61" is "a" to any
// backend) and other escapes in uppercase, runs of "/" collapsed, and dot
// segments removed (RFC 3986 5.2.4), so that "/a/%2E%2E/admin" and
// "//admin" match what the backend will serve: "/admin". An escaped "/"
// ("%2F") stays escaped and is no separator. The request is forwarded as
// received; this only decides the route. Paths that need none of it are
// returned as they are, without allocating.
func normalizePath(p string) string {
	if p == "" || p[0] != '/' {
		return p // "*" (OPTIONS), or empty
	}
	if !needsNormalizing(p) {
		return p
	}
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if d, ok := escape(p, i); ok {
			if unreserved(d) {
				b = append(b, d)
			} else {
				b = append(b, '%', upperHex(p[i+1]), upperHex(p[i+2]))
			}
			i += 2
			continue
		}
		b = append(b, c)
	}
	// Segments, with "." and ".." resolved and empty ones dropped (a final
	// "/" is kept).
	segs := strings.Split(string(b[1:]), "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for k, s := range segs {
		last := k == len(segs)-1
		switch s {
		case "", ".":
			trailing = trailing || last
			continue
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = trailing || last
			continue
		}
		out = append(out, s)
	}
	r := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		r += "/"
	}
	return r
}

// escape returns the octet of a percent-escape at p[i], if there is one.
func escape(p string, i int) (byte, bool) {
	if p[i] != '%' || i+2 >= len(p) {
		return 0, false
	}
	return codec.HexOctet(p[i+1], p[i+2])
}

func needsNormalizing(p string) bool {
	if strings.IndexByte(p, '%') >= 0 || strings.Contains(p, "//") {
		return true
	}
	// A "." or ".." segment.
	for i := 0; i < len(p); i++ {
		if p[i] != '.' || p[i-1] != '/' {
			continue
		}
		j := i + 1
		if j < len(p) && p[j] == '.' {
			j++
		}
		if j == len(p) || p[j] == '/' {
			return true
		}
	}
	return false
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func upperHex(c byte) byte {
	if 'a' <= c && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}
