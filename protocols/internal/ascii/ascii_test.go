package ascii

import "testing"

func TestUpper(t *testing.T) {
	var buf [8]byte
	if got := string(Upper(buf[:], []byte("ehlo-x1"))); got != "EHLO-X1" {
		t.Fatalf("Upper: %q", got)
	}
	if Upper(buf[:], []byte("toolongword")) != nil {
		t.Fatal("a word longer than buf must give nil")
	}
}

func TestSanitize(t *testing.T) {
	in := "ok\r\n\x00\x7f \"q\\\" é"
	if got := Sanitize(in, NotControl); got != "ok \"q\\\" é" {
		t.Fatalf("NotControl: %q", got)
	}
	if got := Sanitize(in, Printable); got != "ok \"q\\\" " {
		t.Fatalf("Printable: %q", got)
	}
	quoted := func(c byte) bool { return NotControl(c) && c != '"' && c != '\\' }
	if got := Sanitize(in, quoted); got != "ok q é" {
		t.Fatalf("quoted: %q", got)
	}
	if s := "clean text"; Sanitize(s, NotControl) != s {
		t.Fatal("clean text changes")
	}
}
