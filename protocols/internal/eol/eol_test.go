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
	} {
		end, next, tooLong := Frame([]byte(c.in), c.scan, c.max)
		if end != c.end || next != c.next || tooLong != c.tooLong {
			t.Errorf("Frame(%q, %d, %d) = %d, %d, %v; want %d, %d, %v", c.in, c.scan, c.max, end, next, tooLong, c.end, c.next, c.tooLong)
		}
	}
}
