package cursor

import (
	"bytes"
	"strconv"
	"testing"
)

// header accepts "{n}" exactly, as a protocol's literal rule would.
func header(line []byte) (int64, bool) {
	if len(line) < 3 || line[0] != '{' || line[len(line)-1] != '}' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(line[1:len(line)-1]), 10, 64)
	return n, err == nil
}

func TestCursor(t *testing.T) {
	r := Cursor{B: []byte("ab cd {3}\r\nxyz\r\n")}
	if a := r.Take(func(c byte) bool { return c != ' ' }); string(a) != "ab" || !r.SP() || r.SP() {
		t.Fatalf("Take/SP: %q at %d", a, r.Pos)
	}
	r.Take(func(c byte) bool { return c != ' ' })
	r.SP()
	if v, ok := r.Literal(header); !ok || string(v) != "xyz" || !r.EOL() || r.Peek() != '\r' {
		t.Fatalf("Literal = %q %v, rest %q", v, ok, r.B[r.Pos:])
	}
	for _, bad := range []string{"{3}\r\nxy", "{x}\r\nxyz", "{3}"} {
		r := Cursor{B: []byte(bad)}
		if _, ok := r.Literal(header); ok || r.Pos != 0 {
			t.Errorf("Literal(%q) accepted", bad)
		}
	}
	if r := (Cursor{B: []byte("x")}); r.EOL() || !bytes.Equal(r.Take(func(byte) bool { return true }), []byte("x")) || !r.EOL() || r.Peek() != 0 {
		t.Fatal("end of input")
	}
}
