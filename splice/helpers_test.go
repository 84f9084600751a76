//go:build linux

package splice

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// engines are the two bridges every behaviour test runs against.
var engines = []struct {
	name     string
	portable bool
}{{"epoll", false}, {"portable", true}}

func forEachEngine(t *testing.T, f func(t *testing.T, portable bool)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { f(t, e.portable) })
	}
}

func newBridge(t testing.TB, cfg Config) Bridge {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return b
}

// legPair connects a test peer to a socket handed over as a bare
// descriptor, the way the engine hands over a gnet connection: the accepted
// net.Conn is dup'd, then closed (close, not shutdown: the dup stays a live
// socket).
func legPair(t testing.TB, ln net.Listener) (*net.TCPConn, int) {
	t.Helper()
	peer, a := testnet.Pair(t, ln)
	return peer.(*net.TCPConn), detach(t, a)
}

// detach returns a non-blocking duplicate of c's descriptor and closes c.
func detach(t testing.TB, c net.Conn) int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		t.Fatal(err, derr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	c.Close()
	return fd
}

// ender collects a session's end and counts onEnd calls.
type ender struct {
	calls atomic.Int32
	ch    chan Stats
}

func newEnder() *ender { return &ender{ch: make(chan Stats, 4)} }

func (e *ender) onEnd(_ Info, st Stats) {
	e.calls.Add(1)
	e.ch <- st
}

func (e *ender) wait(t testing.TB) Stats {
	t.Helper()
	select {
	case st := <-e.ch:
		return st
	case <-time.After(20 * time.Second):
		t.Fatal("session did not end")
		return Stats{}
	}
}

// bridged is one session with its two test peers.
type bridged struct {
	client, backend *net.TCPConn
	s               *Session
	end             *ender
}

func bridge(t testing.TB, b Bridge, ln net.Listener, clientPrelude, backendPrelude []byte) *bridged {
	t.Helper()
	cp, cfd := legPair(t, ln)
	bp, bfd := legPair(t, ln)
	e := newEnder()
	s, err := b.Start(Leg{FD: cfd, Prelude: clientPrelude}, Leg{FD: bfd, Prelude: backendPrelude},
		Info{ID: 1, Account: "user@example.org", Protocol: "imap"}, e.onEnd)
	if err != nil {
		t.Fatal(err)
	}
	return &bridged{client: cp, backend: bp, s: s, end: e}
}

// sendRandom writes data in random chunks, then half-closes.
func sendRandom(c *net.TCPConn, data []byte, seed uint64, maxChunk int) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	for len(data) > 0 {
		k := min(len(data), 1+rng.IntN(maxChunk))
		if _, err := c.Write(data[:k]); err != nil {
			return err
		}
		data = data[k:]
	}
	return c.CloseWrite()
}

// recvAll reads until EOF with random read sizes and returns the byte count
// and SHA-256.
func recvAll(c net.Conn, seed uint64, maxChunk int) (int64, [32]byte, error) {
	rng := rand.New(rand.NewPCG(seed, 2))
	h := sha256.New()
	buf := make([]byte, maxChunk)
	var n int64
	for {
		k, err := c.Read(buf[:1+rng.IntN(maxChunk)])
		h.Write(buf[:k])
		n += int64(k)
		if errors.Is(err, io.EOF) {
			var sum [32]byte
			copy(sum[:], h.Sum(nil))
			return n, sum, nil
		}
		if err != nil {
			return n, [32]byte{}, err
		}
	}
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

func sum(parts ...[]byte) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}
