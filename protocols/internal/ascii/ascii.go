// Package ascii holds the octet helpers the protocol packages share:
// case folding of command names and cleaning of configured reply text.
package ascii

// Upper returns b upper-cased in buf when it fits, for switching on
// command names without allocating; nil when it does not fit.
func Upper(buf []byte, b []byte) []byte {
	if len(b) > len(buf) {
		return nil
	}
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(b)]
}

// NotControl keeps every octet but the C0 controls and DEL.
func NotControl(c byte) bool { return c >= ' ' && c != 0x7f }

// Printable keeps printable US-ASCII only (no controls, no 8-bit octets).
func Printable(c byte) bool { return c >= ' ' && c < 0x7f }

// Sanitize returns configured text with the octets keep refuses dropped,
// so that it cannot break the line or the syntax it is written into.
func Sanitize(s string, keep func(c byte) bool) string {
	i := 0
	for i < len(s) && keep(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, i, len(s))
	copy(b, s[:i])
	for ; i < len(s); i++ {
		if keep(s[i]) {
			b = append(b, s[i])
		}
	}
	return string(b)
}
