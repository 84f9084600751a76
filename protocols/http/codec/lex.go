package codec

import "strings"

// Character classes of RFC 9110 section 5.6.
var (
	tcharTab [256]bool // token characters
	vcharTab [256]bool // field-vchar (VCHAR / obs-text), SP and HTAB
	hexTab   [256]int8 // value of a HEXDIG, -1 otherwise
)

func init() {
	for c := '0'; c <= '9'; c++ {
		tcharTab[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		tcharTab[c] = true
		tcharTab[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		tcharTab[c] = true
	}
	for c := 0x21; c <= 0xff; c++ {
		vcharTab[c] = c != 0x7f
	}
	vcharTab[' '], vcharTab['\t'] = true, true
	for i := range hexTab {
		hexTab[i] = -1
	}
	for c := '0'; c <= '9'; c++ {
		hexTab[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		hexTab[c] = int8(c - 'a' + 10)
		hexTab[c-'a'+'A'] = int8(c - 'a' + 10)
	}
}

// IsToken reports whether s is a token (RFC 9110 5.6.2): a method, a
// field name, a coding.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tcharTab[s[i]] {
			return false
		}
	}
	return true
}

// validValue reports whether a trimmed field value holds only field-vchar,
// SP and HTAB: no NUL, no bare CR or LF, no other control character.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if !vcharTab[s[i]] {
			return false
		}
	}
	return true
}

// HexOctet returns the octet two hex digits stand for (a percent-escape),
// and false when either is not a HEXDIG.
func HexOctet(hi, lo byte) (byte, bool) {
	h, l := hexTab[hi], hexTab[lo]
	return byte(h<<4 | l), h >= 0 && l >= 0
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func trimOWS(s string) string {
	for len(s) > 0 && isOWS(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// EqualFold compares ASCII case-insensitively (no Unicode folding, unlike
// strings.EqualFold); lower must be lowercase.
func EqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lowerASCII(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// nextElem splits the first element off a comma-separated list (RFC 9110
// section 5.6.1), OWS trimmed. Elements may be empty; callers skip them.
// It does not know quoted strings: it is only used on lists of tokens.
func nextElem(list string) (elem, rest string) {
	elem, rest, _ = strings.Cut(list, ",")
	return trimOWS(elem), rest
}

// HasToken reports whether a comma-separated list of tokens holds the
// token (lowercase), in any case.
func HasToken(list, lower string) bool {
	for list != "" {
		var e string
		e, list = nextElem(list)
		if EqualFold(e, lower) {
			return true
		}
	}
	return false
}
