package gnetmock

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestLoginDialogue: both ways of reaching the loops serve the dialogue the
// login storm drives (greeting, AUTHENTICATE PLAIN with SASL-IR, NOOP,
// LOGOUT, then the server closes), and count the login.
func TestLoginDialogue(t *testing.T) {
	for _, enroll := range []bool{false, true} {
		name := map[bool]string{false: "gnet-accept", true: "enroll"}[enroll]
		t.Run(name, func(t *testing.T) {
			s, c := listenAndDial(t, Config{Enroll: enroll})
			r := bufio.NewReader(c)
			expect := func(want string) {
				t.Helper()
				line, err := r.ReadString('\n')
				if err != nil || line != want {
					t.Fatalf("read %q, %v; want %q", line, err, want)
				}
			}
			expect(Greeting)
			if _, err := io.WriteString(c, "a AUTHENTICATE PLAIN AHVzZXIwAHBhc3N3b3Jk\r\nb NOOP\r\n"); err != nil {
				t.Fatal(err)
			}
			expect("a OK [CAPABILITY IMAP4rev1] logged in\r\n")
			expect("b OK done\r\n")
			if _, err := io.WriteString(c, "c LOGOUT\r\n"); err != nil {
				t.Fatal(err)
			}
			expect("* BYE logging out\r\n")
			expect("c OK LOGOUT completed\r\n")
			if rest, err := r.ReadString('\n'); err != io.EOF {
				t.Fatalf("after LOGOUT read %q, %v; want the server to close", rest, err)
			}
			if n := s.Logins(); n != 1 {
				t.Errorf("Logins() = %d, want 1", n)
			}
		})
	}
}

// TestLongLine: a client that never ends its line gets a BYE and is closed
// once it has sent more than MaxLine; the server holds no more than that.
func TestLongLine(t *testing.T) {
	_, c := listenAndDial(t, Config{})
	go func() { _, _ = io.WriteString(c, strings.Repeat("x", 2*MaxLine)) }()
	got, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(got), Greeting) || !strings.HasSuffix(string(got), "* BYE line too long\r\n") {
		t.Fatalf("read %q, want the greeting then a BYE", got)
	}
}

// listenAndDial starts a responder on a port of the kernel's choosing and
// connects to it; both are closed when the test ends.
func listenAndDial(t *testing.T, cfg Config) (*Server, net.Conn) {
	t.Helper()
	s, err := Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return s, c
}
