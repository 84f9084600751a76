package demo

import (
	"bufio"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"
)

// The dialogue the proxy's replay and the documented curl and imaplib
// commands have with a demo backend.
func TestBackendDialogue(t *testing.T) {
	b, err := listenBackend("127.0.0.1:0", "new", map[string]string{"alice@example.com": Password})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	read := func(want string) string {
		t.Helper()
		var all strings.Builder
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading for %q: %v (got %q)", want, err, all.String())
			}
			all.WriteString(l)
			if strings.HasPrefix(l, want) {
				return all.String()
			}
		}
	}
	send := func(s string) {
		t.Helper()
		if _, err := c.Write([]byte(s + "\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	if g := read("* OK"); !strings.Contains(g, "SASL-IR") || !strings.Contains(g, "AUTH=PLAIN") {
		t.Fatalf("greeting %q", g)
	}
	send(`a0 ID ("x-originating-ip" "192.0.2.1")`)
	read("a0 OK")
	send("a1 SELECT INBOX")
	read("a1 BAD")
	bad := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.com\x00wrong"))
	send("a2 AUTHENTICATE PLAIN " + bad)
	read("a2 NO")
	send("a3 AUTHENTICATE PLAIN")
	read("+ ")
	send(base64.StdEncoding.EncodeToString([]byte("\x00alice@example.com\x00" + Password)))
	read("a3 OK")
	send(`a4 LOGIN "alice@example.com" "` + Password + `"`)
	read("a4 OK")
	send("a5 CAPABILITY")
	read("a5 OK")
	send("a6 SELECT INBOX")
	if s := read("a6 OK"); !strings.Contains(s, "* 1 EXISTS") {
		t.Fatalf("SELECT: %q", s)
	}
	send("a7 FETCH 1 (BODY[])")
	if s := read("a7 OK"); !strings.Contains(s, "Subject: Marker: you are on new\r\n") {
		t.Fatalf("FETCH: %q", s)
	}
	send("a8 UID FETCH 1 BODY[]")
	if s := read("a8 OK"); !strings.Contains(s, "backend=new") {
		t.Fatalf("UID FETCH: %q", s)
	}
	send("a9 NOOP")
	read("a9 OK")
	send("a10 LOGOUT")
	read("a10 OK")
}
