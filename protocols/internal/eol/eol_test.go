package eol

import "testing"

func TestFrame(t *testing.T) {
	for _, c := range []struct {
		in        string
		scan, max int
		end, next int
		tooLong   bool
	}{
		{"abc\r\nrest", 0, 10, 5, 0, false},
		{"abc", 0, 10, 0, 3, false},
		{"abc\n", 3, 10, 4, 0, false},
		{"abc\n", 9, 10, 4, 0, false}, // stale scan: rescan
		{"abcdefghijk", 0, 10, 0, 0, true},
		{"abcdefghij\r\n", 0, 10, 12, 0, false},
		{"abcdefghijk\r\n", 0, 10, 0, 0, true},
		{"abcdefghij\r", 0, 10, 0, 11, false}, // the CR of the CRLF
		{"abcdefghij\n", 0, 10, 11, 0, false},
		{"abcdefghijk\n", 0, 10, 0, 0, true}, // 11 octets before a bare LF
	} {
		end, next, tooLong := Frame([]byte(c.in), c.scan, c.max)
		if end != c.end || next != c.next || tooLong != c.tooLong {
			t.Errorf("Frame(%q, %d, %d) = %d, %d, %v; want %d, %d, %v", c.in, c.scan, c.max, end, next, tooLong, c.end, c.next, c.tooLong)
		}
	}
}

// A line gets one verdict however its octets arrive: whole, or one at a
// time with the earlier octets handed back (FuzzPOP3BackendFeed found a
// bare-LF line one octet over the limit accepted whole and refused when
// its last octets came apart).
func TestFrameSameVerdictByteByByte(t *testing.T) {
	for _, line := range []string{"0123456789", "0123456789x", "012345678\r"} {
		for _, end := range []string{"\n", "\r\n"} {
			in := []byte(line + end)
			wholeEnd, _, wholeLong := Frame(in, 0, 10)
			scan, gotEnd, gotLong := 0, 0, false
			for i := 1; i <= len(in) && gotEnd == 0 && !gotLong; i++ {
				gotEnd, scan, gotLong = Frame(in[:i], scan, 10)
			}
			if gotEnd != wholeEnd || gotLong != wholeLong {
				t.Errorf("%q: byte by byte %d, %v; whole %d, %v", in, gotEnd, gotLong, wholeEnd, wholeLong)
			}
		}
	}
}
