//go:build linux

package e2e

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RawConn is a line-oriented client connection for tests that must send
// exact bytes: PROXY headers, ID, pipelining, bad input. Every read has a
// deadline.
type RawConn struct {
	t    testing.TB
	Conn net.Conn
	R    *bufio.Reader
	// ReadTimeout bounds each ReadLine (default 10s).
	ReadTimeout time.Duration
}

// DialRaw connects to addr (from source when not empty).
func DialRaw(t testing.TB, addr, source string) *RawConn {
	t.Helper()
	c, err := dialFrom(addr, source)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &RawConn{t: t, Conn: c, R: bufio.NewReader(c), ReadTimeout: 10 * time.Second}
}

// dialFrom connects to addr from the address source (any when empty).
func dialFrom(addr, source string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if source != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(source)}
	}
	return d.Dial("tcp", addr)
}

// DialRawTLS connects with implicit TLS (certificate not verified).
func DialRawTLS(t testing.TB, addr string) *RawConn {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test peer with a self-signed cert
	if err != nil {
		t.Fatalf("dial tls %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &RawConn{t: t, Conn: c, R: bufio.NewReader(c), ReadTimeout: 10 * time.Second}
}

// Write sends s as is.
func (r *RawConn) Write(s string) {
	r.t.Helper()
	_ = r.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(r.Conn, s); err != nil {
		r.t.Fatalf("write %q: %v", abbrev(s), err)
	}
}

// ReadLine reads one line (without CRLF), or fails the test.
func (r *RawConn) ReadLine() string {
	r.t.Helper()
	l, err := r.TryReadLine()
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return l
}

// TryReadLine reads one line (without CRLF) and returns read errors.
func (r *RawConn) TryReadLine() (string, error) {
	_ = r.Conn.SetReadDeadline(time.Now().Add(r.ReadTimeout))
	l, err := r.R.ReadString('\n')
	if err != nil {
		if l != "" {
			return l, fmt.Errorf("partial line %q: %w", abbrev(l), err)
		}
		return "", err
	}
	return strings.TrimRight(l, "\r\n"), nil
}

// Greeting reads the server greeting and checks it is "* OK".
func (r *RawConn) Greeting() string {
	r.t.Helper()
	g, err := r.TryReadLine()
	if err != nil {
		r.t.Fatalf("no greeting from %s: %v", r.Conn.RemoteAddr(), err)
	}
	if !strings.HasPrefix(g, "* OK") {
		r.t.Fatalf("greeting: got %q, want \"* OK ...\"", g)
	}
	return g
}

// Command sends "tag cmd\r\n" and returns the untagged lines and the
// tagged completion line. Literals in responses are read as part of their
// line.
func (r *RawConn) Command(tag, cmd string) (untagged []string, tagged string) {
	r.t.Helper()
	r.Write(tag + " " + cmd + "\r\n")
	return r.ReadUntilTagged(tag)
}

// ReadUntilTagged reads until the completion line of tag.
func (r *RawConn) ReadUntilTagged(tag string) (untagged []string, tagged string) {
	r.t.Helper()
	for {
		l, err := r.TryReadLine()
		if err != nil {
			r.t.Fatalf("waiting for %s's completion: %v (after %q)", tag, err, untagged)
		}
		l = r.readLiterals(l)
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l
		}
		untagged = append(untagged, l)
	}
}

// readLiterals appends any {n} literal the line announces (and the rest of
// the line after it).
func (r *RawConn) readLiterals(l string) string {
	for strings.HasSuffix(l, "}") {
		i := strings.LastIndexByte(l, '{')
		if i < 0 {
			return l
		}
		n, err := strconv.Atoi(strings.TrimSuffix(l[i+1:len(l)-1], "+"))
		if err != nil || n < 0 || n > 1<<20 {
			return l
		}
		buf := make([]byte, n)
		_ = r.Conn.SetReadDeadline(time.Now().Add(r.ReadTimeout))
		if _, err := io.ReadFull(r.R, buf); err != nil {
			r.t.Fatalf("reading a %d-byte literal: %v", n, err)
		}
		rest, err := r.TryReadLine()
		if err != nil {
			r.t.Fatalf("after a literal: %v", err)
		}
		l = l + "\r\n" + string(buf) + rest
	}
	return l
}

// ExpectClosed waits (at most timeout) for the server to close the
// connection, and returns what it sent before.
func (r *RawConn) ExpectClosed(timeout time.Duration) []string {
	r.t.Helper()
	var lines []string
	deadline := time.Now().Add(timeout)
	for {
		_ = r.Conn.SetReadDeadline(deadline)
		l, err := r.R.ReadString('\n')
		if l != "" {
			lines = append(lines, strings.TrimRight(l, "\r\n"))
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatalf("connection still open after %v (read so far: %q)", timeout, lines)
		}
		return lines // EOF or reset: closed
	}
}

// Close closes the connection.
func (r *RawConn) Close() { r.Conn.Close() }

// Quote renders s as an IMAP quoted string.
func Quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// ProxyV1Header is a PROXY protocol v1 line claiming the given TCP4/TCP6
// source and destination.
func ProxyV1Header(src, dst string) string {
	sh, sp, _ := net.SplitHostPort(src)
	dh, dp, _ := net.SplitHostPort(dst)
	fam := "TCP4"
	if ip := net.ParseIP(sh); ip != nil && ip.To4() == nil {
		fam = "TCP6"
	}
	return fmt.Sprintf("PROXY %s %s %s %s %s\r\n", fam, sh, dh, sp, dp)
}

// ProxyV2Header is a PROXY protocol v2 PROXY command for TCP over IPv4.
func ProxyV2Header(src, dst string) []byte {
	sa, _ := net.ResolveTCPAddr("tcp4", src)
	da, _ := net.ResolveTCPAddr("tcp4", dst)
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11, 0, 12)
	b = append(b, sa.IP.To4()...)
	b = append(b, da.IP.To4()...)
	b = append(b, byte(sa.Port>>8), byte(sa.Port), byte(da.Port>>8), byte(da.Port))
	return b
}

func abbrev(s string) string {
	if len(s) > 80 {
		return s[:80] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

// IMAPSubject logs in with the LOGIN command over a plain connection (from
// source when not empty), examines INBOX and returns the Subject of message
// 1. Unlike RawConn it reports every failure as an error, for polling.
func IMAPSubject(addr, source, user, password string) (string, error) {
	c, err := dialFrom(addr, source)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	r := bufio.NewReader(c)
	line := func() (string, error) {
		l, err := r.ReadString('\n')
		return strings.TrimRight(l, "\r\n"), err
	}
	cmd := func(tag, text string) ([]string, string, error) {
		if _, err := io.WriteString(c, tag+" "+text+"\r\n"); err != nil {
			return nil, "", err
		}
		var untagged []string
		for {
			l, err := line()
			if err != nil {
				return untagged, "", fmt.Errorf("%s: %w (after %q)", tag, err, untagged)
			}
			if strings.HasPrefix(l, tag+" ") {
				return untagged, l, nil
			}
			untagged = append(untagged, l)
		}
	}
	g, err := line()
	if err != nil {
		return "", fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(g, "* OK") {
		return "", fmt.Errorf("greeting %q", g)
	}
	_, tagged, err := cmd("s1", "LOGIN "+Quote(user)+" "+Quote(password))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(tagged, "s1 OK") {
		return "", fmt.Errorf("LOGIN %s: %s", user, tagged)
	}
	if _, tagged, err = cmd("s2", "EXAMINE INBOX"); err != nil || !strings.HasPrefix(tagged, "s2 OK") {
		return "", fmt.Errorf("EXAMINE: %q %v", tagged, err)
	}
	untagged, tagged, err := cmd("s3", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if err != nil || !strings.HasPrefix(tagged, "s3 OK") {
		return "", fmt.Errorf("FETCH: %q %v", tagged, err)
	}
	_, _, _ = cmd("s4", "LOGOUT")
	for _, l := range untagged {
		if s, ok := strings.CutPrefix(l, "Subject: "); ok {
			return s, nil
		}
	}
	return "", fmt.Errorf("no Subject in %q", untagged)
}
