package tlsconn

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testcert"
	"golang.org/x/sys/unix"
)

// TestHandshakeLoopAndFDModes drives a server-side TLS connection the way the
// engine does: handshake on a goroutine fed by a "loop", then loop-mode reads
// that return ErrWouldBlock, then fd mode on the raw socket.
func TestHandshakeLoopAndFDModes(t *testing.T) {
	cert, _, _, err := testcert.New("localhost")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	clientDone := make(chan error, 1)
	payload := make([]byte, 200<<10)
	_, _ = rand.Read(payload)
	go func() {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			clientDone <- err
			return
		}
		defer c.Close()
		// Pipelined right behind the handshake: must not be lost.
		if _, err := c.Write([]byte("a1 NOOP\r\n")); err != nil {
			clientDone <- err
			return
		}
		got := make([]byte, 5)
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "hello" {
			clientDone <- errors.New("bad reply from loop mode")
			return
		}
		if _, err := c.Write(payload); err != nil {
			clientDone <- err
			return
		}
		back := make([]byte, len(payload))
		if _, err := io.ReadFull(c, back); err != nil || !bytes.Equal(back, payload) {
			clientDone <- errors.New("fd-mode echo mismatch")
			return
		}
		clientDone <- nil
	}()
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	wake := make(chan struct{}, 1)
	tc := New(raw.LocalAddr(), raw.RemoteAddr(), func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	srv := tls.Server(tc, &tls.Config{Certificates: []tls.Certificate{cert}})
	tc.StartHandshake(t.Context(), srv.HandshakeContext)

	// The "loop": shuttle bytes until the handshake reports done.
	incoming := make(chan []byte, 16)
	go func() {
		for {
			b := make([]byte, 4096)
			n, err := raw.Read(b)
			if n > 0 {
				incoming <- b[:n]
			}
			if err != nil {
				close(incoming)
				return
			}
		}
	}()
	deadline := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case b := <-incoming:
			tc.Feed(b)
		case <-wake:
		case <-deadline:
			t.Fatal("handshake did not finish")
		}
		if out := tc.TakeOutput(nil); len(out) > 0 {
			if _, err := raw.Write(out); err != nil {
				t.Fatal(err)
			}
		}
		var herr error
		done, herr = tc.HandshakeResult()
		if herr != nil {
			t.Fatal(herr)
		}
	}
	if err := tc.SetLoopMode(raw.Write); err != nil {
		t.Fatal(err)
	}
	// Loop mode: read the pipelined command, feeding as bytes arrive.
	var got []byte
	buf := make([]byte, 1024)
	for !bytes.Contains(got, []byte("\r\n")) {
		n, err := srv.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("loop-mode read: %v", err)
			}
			select {
			case b := <-incoming:
				tc.Feed(b)
			case <-time.After(5 * time.Second):
				t.Fatal("no pipelined command")
			}
		}
	}
	if string(got) != "a1 NOOP\r\n" {
		t.Fatalf("got %q", got)
	}
	if _, err := srv.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	// Stop the reader goroutine's access: take a dup'd non-blocking fd and
	// switch to fd mode. The reader goroutine may still hold bytes: feed them.
	sc, _ := raw.(syscall.Conn).SyscallConn()
	var fd int
	_ = sc.Control(func(f uintptr) { fd, _ = unix.Dup(int(f)) })
	defer unix.Close(fd)
	_ = unix.SetNonblock(fd, true)
	_ = raw.SetReadDeadline(time.Now()) // end the reader goroutine
	for b := range incoming {
		tc.Feed(b)
	}
	tc.UseFD(fd)
	echoed := 0
	stop := time.Now().Add(10 * time.Second)
	for echoed < len(payload) && time.Now().Before(stop) {
		n, err := srv.Read(buf)
		if n > 0 {
			if _, werr := srv.Write(buf[:n]); werr != nil {
				t.Fatal(werr)
			}
			echoed += n
		}
		if err != nil && !isTimeout(err) {
			t.Fatalf("fd-mode read: %v", err)
		}
		if err != nil {
			_ = tc.FlushOut()
			time.Sleep(time.Millisecond)
		}
	}
	for tc.PendingOut() > 0 && time.Now().Before(stop) {
		_ = tc.FlushOut()
		time.Sleep(time.Millisecond)
	}
	if err := <-clientDone; err != nil {
		t.Fatal(err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestCloseWakesHandshake(t *testing.T) {
	tc := New(nil, nil, func() {})
	srv := tls.Server(tc, &tls.Config{})
	tc.StartHandshake(t.Context(), srv.HandshakeContext)
	tc.Close()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if done, err := tc.HandshakeResult(); done {
			if err == nil {
				t.Fatal("handshake succeeded on a closed transport")
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("handshake goroutine did not exit after Close")
}

// TestLoopModeReleasesHandshakeBuffer: once the handshake's input is read,
// switching to loop mode drops the buffer, so an idle TLS connection holds
// none (memory per idle connection).
func TestLoopModeReleasesHandshakeBuffer(t *testing.T) {
	c := New(nil, nil, func() {})
	c.Feed(make([]byte, 1800)) // a ClientHello's worth
	buf := make([]byte, 4096)
	if n, err := c.Read(buf); n != 1800 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	if cap(c.in) == 0 {
		t.Fatal("handshake mode should keep its buffer for the next flight")
	}
	if err := c.SetLoopMode(func(p []byte) (int, error) { return len(p), nil }); err != nil {
		t.Fatal(err)
	}
	if cap(c.in) != 0 {
		t.Errorf("loop mode kept a read buffer of %d bytes with nothing in it", cap(c.in))
	}
	// Bytes still unread at the switch stay.
	d := New(nil, nil, func() {})
	d.Feed([]byte("a1 NOOP\r\n"))
	if err := d.SetLoopMode(func(p []byte) (int, error) { return len(p), nil }); err != nil {
		t.Fatal(err)
	}
	if n, err := d.Read(buf); err != nil || string(buf[:n]) != "a1 NOOP\r\n" {
		t.Errorf("pipelined bytes after the switch: %q, %v", buf[:n], err)
	}
}
