//go:build linux

package splice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// exchange runs data both ways through a session in random chunks and checks
// what each side received, preludes first.
func exchange(t *testing.T, bs *bridged, clientPrelude, backendPrelude, up, down []byte, seed uint64) {
	t.Helper()
	exchangeGated(t, bs, clientPrelude, backendPrelude, up, down, seed, nil)
}

// exchangeGated is exchange with receivers that wait for gate (if not nil).
func exchangeGated(t *testing.T, bs *bridged, clientPrelude, backendPrelude, up, down []byte, seed uint64, gate chan struct{}) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	var upN, downN int64
	var upSum, downSum [32]byte
	wg.Add(4)
	go func() { defer wg.Done(); errs <- sendRandom(bs.client, up, seed, 70000) }()
	go func() { defer wg.Done(); errs <- sendRandom(bs.backend, down, seed+1, 70000) }()
	go func() {
		defer wg.Done()
		if gate != nil {
			<-gate
		}
		var err error
		upN, upSum, err = recvAll(bs.backend, seed+2, 50000)
		errs <- err
	}()
	go func() {
		defer wg.Done()
		if gate != nil {
			<-gate
		}
		var err error
		downN, downSum, err = recvAll(bs.client, seed+3, 50000)
		errs <- err
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if want := int64(len(backendPrelude) + len(up)); upN != want || upSum != sum(backendPrelude, up) {
		t.Errorf("backend received %d bytes (want %d), checksum match %v", upN, want, upSum == sum(backendPrelude, up))
	}
	if want := int64(len(clientPrelude) + len(down)); downN != want || downSum != sum(clientPrelude, down) {
		t.Errorf("client received %d bytes (want %d), checksum match %v", downN, want, downSum == sum(clientPrelude, down))
	}
	st := bs.end.wait(t)
	if st.Reason != ReasonClientClosed && st.Reason != ReasonBackendClosed {
		t.Errorf("reason %q", st.Reason)
	}
	if st.ClientToBackend != upN || st.BackendToClient != downN {
		t.Errorf("stats %d/%d, peers received %d/%d", st.ClientToBackend, st.BackendToClient, upN, downN)
	}
}

func TestRandomChunks(t *testing.T) {
	forEachEngine(t, func(t *testing.T, portable bool) {
		b := newBridge(t, Config{Portable: portable, PipeSize: 64 << 10})
		ln := testnet.Listen(t)
		var wg sync.WaitGroup
		for i := range 4 {
			cpre := []byte(fmt.Sprintf("* OK verdict %d\r\n", i))
			bpre := []byte(fmt.Sprintf("a%d SELECT INBOX\r\n", i))
			bs := bridge(t, b, ln, cpre, bpre)
			up := randomBytes(3<<20+i*1000, uint64(i))
			down := randomBytes(5<<20+i*777, uint64(i+100))
			wg.Add(1)
			go func() {
				defer wg.Done()
				exchange(t, bs, cpre, bpre, up, down, uint64(i*10))
			}()
		}
		wg.Wait()
	})
}

// TestPreludeOnly: a session whose only bytes are the preludes, and empty data.
func TestPreludeOnly(t *testing.T) {
	forEachEngine(t, func(t *testing.T, portable bool) {
		b := newBridge(t, Config{Portable: portable})
		bs := bridge(t, b, testnet.Listen(t), []byte("a1 OK LOGIN done\r\n"), []byte("a2 NOOP\r\n"))
		exchange(t, bs, []byte("a1 OK LOGIN done\r\n"), []byte("a2 NOOP\r\n"), nil, nil, 7)
	})
}

func TestLargeTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB each way")
	}
	const total = 1 << 30
	block := randomBytes(4<<20+13, 42)
	forEachEngine(t, func(t *testing.T, portable bool) {
		if portable {
			t.Skip("the epoll engine is the one under test; the portable one runs the other tests")
		}
		b := newBridge(t, Config{Portable: portable})
		bs := bridge(t, b, testnet.Listen(t), nil, nil)
		send := func(c *net.TCPConn, shift int) (uint32, error) {
			var crc uint32
			left := total
			for i := 0; left > 0; i++ {
				p := block[(i*shift)%4096:]
				p = p[:min(len(p), left)]
				crc = crc32.Update(crc, crc32.MakeTable(crc32.Castagnoli), p)
				if _, err := c.Write(p); err != nil {
					return 0, err
				}
				left -= len(p)
			}
			return crc, c.CloseWrite()
		}
		recv := func(c *net.TCPConn) (int64, uint32, error) {
			tab := crc32.MakeTable(crc32.Castagnoli)
			buf := make([]byte, 1<<20)
			var crc uint32
			var n int64
			for {
				k, err := c.Read(buf)
				crc = crc32.Update(crc, tab, buf[:k])
				n += int64(k)
				if err == io.EOF {
					return n, crc, nil
				}
				if err != nil {
					return n, crc, err
				}
			}
		}
		// A stalled direction fails the test with how far it got, not the
		// package with a goroutine dump (a second is typical here).
		for _, c := range []*net.TCPConn{bs.client, bs.backend} {
			if err := c.SetDeadline(time.Now().Add(2 * time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		var upCRC, downCRC, gotUp, gotDown uint32
		var upN, downN int64
		var errs [4]error
		start := time.Now()
		wg.Add(4)
		go func() { defer wg.Done(); upCRC, errs[0] = send(bs.client, 7) }()
		go func() { defer wg.Done(); downCRC, errs[1] = send(bs.backend, 11) }()
		go func() { defer wg.Done(); upN, gotUp, errs[2] = recv(bs.backend) }()
		go func() { defer wg.Done(); downN, gotDown, errs[3] = recv(bs.client) }()
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("%v (the backend received %d of %d bytes, the client %d)", err, upN, total, downN)
			}
		}
		el := time.Since(start)
		if upN != total || downN != total || upCRC != gotUp || downCRC != gotDown {
			t.Fatalf("up %d bytes crc ok %v, down %d bytes crc ok %v", upN, upCRC == gotUp, downN, downCRC == gotDown)
		}
		st := bs.end.wait(t)
		if st.ClientToBackend != total || st.BackendToClient != total {
			t.Errorf("stats %+v", st)
		}
		t.Logf("2 GiB (1 GiB each way, checksummed in the test) in %v", el.Round(time.Millisecond))
	})
}

// TestHalfCloseClientFirst: the client sends its request and shuts its write
// side; it still receives the backend's whole answer.
func TestHalfCloseClientFirst(t *testing.T) {
	forEachEngine(t, func(t *testing.T, portable bool) {
		b := newBridge(t, Config{Portable: portable})
		bs := bridge(t, b, testnet.Listen(t), nil, nil)
		request := randomBytes(300<<10, 1)
		answer := randomBytes(2<<20, 2)
		if _, err := bs.client.Write(request); err != nil {
			t.Fatal(err)
		}
		if err := bs.client.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(bs.backend) // ends only when the half-close arrived
		if err != nil || !bytes.Equal(got, request) {
			t.Fatalf("backend got %d bytes, err %v", len(got), err)
		}
		if _, err := bs.backend.Write(answer); err != nil {
			t.Fatal(err)
		}
		bs.backend.Close()
		got, err = io.ReadAll(bs.client)
		if err != nil || !bytes.Equal(got, answer) {
			t.Fatalf("client got %d bytes, err %v", len(got), err)
		}
		if st := bs.end.wait(t); st.Reason != ReasonClientClosed {
			t.Errorf("reason %q, want %q", st.Reason, ReasonClientClosed)
		}
	})
}

// TestHalfCloseBackendFirst: the backend sends and shuts its write side; the
// client reads to EOF and still gets its answer through.
func TestHalfCloseBackendFirst(t *testing.T) {
	forEachEngine(t, func(t *testing.T, portable bool) {
		b := newBridge(t, Config{Portable: portable})
		bs := bridge(t, b, testnet.Listen(t), []byte("+OK "), nil)
		msg := randomBytes(1<<20, 3)
		reply := []byte("QUIT\r\n")
		if _, err := bs.backend.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := bs.backend.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(bs.client)
		if err != nil || !bytes.Equal(got, append([]byte("+OK "), msg...)) {
			t.Fatalf("client got %d bytes, err %v", len(got), err)
		}
		if _, err := bs.client.Write(reply); err != nil {
			t.Fatal(err)
		}
		bs.client.Close()
		got, err = io.ReadAll(bs.backend)
		if err != nil || !bytes.Equal(got, reply) {
			t.Fatalf("backend got %q, err %v", got, err)
		}
		if st := bs.end.wait(t); st.Reason != ReasonBackendClosed {
			t.Errorf("reason %q, want %q", st.Reason, ReasonBackendClosed)
		}
	})
}

func TestBothCloseAtOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, portable bool) {
		b := newBridge(t, Config{Portable: portable})
		ln := testnet.Listen(t)
		for range 20 {
			bs := bridge(t, b, ln, nil, nil)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); bs.client.Close() }()
			go func() { defer wg.Done(); bs.backend.Close() }()
			wg.Wait()
			st := bs.end.wait(t)
			if st.Reason != ReasonClientClosed && st.Reason != ReasonBackendClosed {
				t.Errorf("reason %q", st.Reason)
			}
		}
		waitNoSessions(t, b)
	})
}

// TestBackendReset: the backend resets (SO_LINGER 0) in the middle of a
// stream; the session ends with an error reason naming the backend, and the
// client's connection is closed.
func TestBackendReset(t *testing.T) {
	forEachEngine(t, func(t *testing.T, portable bool) {
		b := newBridge(t, Config{Portable: portable})
		bs := bridge(t, b, testnet.Listen(t), nil, nil)
		go func() {
			chunk := randomBytes(64<<10, 5)
			for range 1000 { // bounded: ends with an error once the session is gone
				if _, err := bs.client.Write(chunk); err != nil {
					return
				}
			}
		}()
		if _, err := io.ReadFull(bs.backend, make([]byte, 256<<10)); err != nil {
			t.Fatal(err)
		}
		_ = bs.backend.SetLinger(0)
		bs.backend.Close()
		st := bs.end.wait(t)
		if !strings.HasPrefix(st.Reason, "error: backend") {
			t.Errorf("reason %q, want an error on the backend leg", st.Reason)
		}
		t.Logf("reason: %s", st.Reason)
		_ = bs.client.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, bs.client); err != nil && !isReset(err) {
			t.Errorf("client: %v", err)
		}
	})
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

func TestKick(t *testing.T) {
	forEachEngine(t, func(t *testing.T, portable bool) {
		b := newBridge(t, Config{Portable: portable})
		bs := bridge(t, b, testnet.Listen(t), []byte("* OK\r\n"), nil)
		if _, err := io.ReadFull(bs.client, make([]byte, 6)); err != nil {
			t.Fatal(err)
		}
		if got := b.Sessions(); len(got) != 1 || got[0] != bs.s || got[0].Info().Account != "user@example.org" {
			t.Fatalf("Sessions() = %v", got)
		}
		bs.s.Close(ReasonKicked)
		bs.s.Close("second close") // the first reason stays
		st := bs.end.wait(t)
		if st.Reason != ReasonKicked || st.BackendToClient != 6 {
			t.Errorf("stats %+v", st)
		}
		for _, c := range []*net.TCPConn{bs.client, bs.backend} {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.Read(make([]byte, 1)); n != 0 || (err != io.EOF && !isReset(err)) {
				t.Errorf("peer read after kick: %d %v", n, err)
			}
		}
		waitNoSessions(t, b)
		if c := bs.end.calls.Load(); c != 1 {
			t.Errorf("onEnd called %d times", c)
		}
	})
}

// TestKickOneOfTwo: after a kick the loop keeps serving the other session
// through later sweeps and events (the processed kick list once stayed
// behind and was walked again: a nil session).
func TestKickOneOfTwo(t *testing.T) {
	defer func(d time.Duration) { sweepEvery = d }(sweepEvery)
	sweepEvery = 10 * time.Millisecond
	forEachEngine(t, func(t *testing.T, portable bool) {
		b := newBridge(t, Config{Portable: portable, Loops: 1})
		ln := testnet.Listen(t)
		kicked := bridge(t, b, ln, nil, nil)
		kept := bridge(t, b, ln, nil, nil)
		kicked.s.Close(ReasonKicked)
		kicked.end.wait(t)
		time.Sleep(50 * time.Millisecond) // several sweeps with no wake-up
		exchange(t, kept, nil, nil, []byte("ping\r\n"), []byte("pong\r\n"), 7)
	})
}

func TestIdleTimeout(t *testing.T) {
	defer func(d time.Duration) { sweepEvery = d }(sweepEvery)
	sweepEvery = 20 * time.Millisecond
	forEachEngine(t, func(t *testing.T, portable bool) {
		b := newBridge(t, Config{Portable: portable, IdleTimeout: 100 * time.Millisecond})
		ln := testnet.Listen(t)
		idle := bridge(t, b, ln, nil, nil)
		st := idle.end.wait(t)
		if st.Reason != ReasonIdle {
			t.Errorf("reason %q", st.Reason)
		}
		if st.Duration < 100*time.Millisecond {
			t.Errorf("ended after %v, before the idle timeout", st.Duration)
		}
	})
}

func TestShutdown(t *testing.T) {
	forEachEngine(t, func(t *testing.T, portable bool) {
		b, err := New(Config{Portable: portable})
		if err != nil {
			t.Fatal(err)
		}
		ln := testnet.Listen(t)
		bs := bridge(t, b, ln, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.Shutdown(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("shutdown: %v", err)
		}
		if st := bs.end.wait(t); st.Reason != ReasonShutdown {
			t.Errorf("reason %q", st.Reason)
		}
		_, fd1 := legPair(t, ln)
		_, fd2 := legPair(t, ln)
		if _, err := b.Start(Leg{FD: fd1}, Leg{FD: fd2}, Info{}, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Start after Shutdown: %v", err)
		}
	})
}

// TestPipeCap: with two pipes for ten busy sessions, directions that find no
// free pipe copy through a buffer, and every byte still arrives.
func TestPipeCap(t *testing.T) {
	b := newBridge(t, Config{MaxPipes: 2, Loops: 2})
	eb := b.(*epBridge)
	ln := testnet.Listen(t)
	var wg sync.WaitGroup
	// The receivers start once the bridge holds bytes it cannot deliver in
	// more directions than it has pipes: each session sends more than the
	// loopback socket buffers hold.
	gate := make(chan struct{})
	for i := range 10 {
		bs := bridge(t, b, ln, nil, nil)
		up := randomBytes(16<<20+i, uint64(200+i))
		down := randomBytes(16<<20+2*i, uint64(300+i))
		wg.Add(1)
		go func() { defer wg.Done(); exchangeGated(t, bs, nil, nil, up, down, uint64(i), gate) }()
	}
	for i := 0; i < 2000 && eb.copyFallbacks.Load() == 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	close(gate)
	wg.Wait()
	t.Logf("pipes made %d, most at once %d, reads through a buffer %d",
		eb.pipesMade.Load(), eb.maxPipesSeen.Load(), eb.copyFallbacks.Load())
	if eb.maxPipesSeen.Load() > 2 {
		t.Errorf("%d pipes at once, cap 2", eb.maxPipesSeen.Load())
	}
	if eb.copyFallbacks.Load() == 0 {
		t.Errorf("the cap was never reached")
	}
}

// TestNoPipes: MaxPipes < 0 copies everything through the buffer.
func TestNoPipes(t *testing.T) {
	b := newBridge(t, Config{MaxPipes: -1, CopyBufferSize: 4096})
	bs := bridge(t, b, testnet.Listen(t), []byte("hello"), []byte("world"))
	exchange(t, bs, []byte("hello"), []byte("world"), randomBytes(1<<20, 1), randomBytes(1<<20, 2), 3)
	if n := b.(*epBridge).pipesMade.Load(); n != 0 {
		t.Errorf("%d pipes made", n)
	}
}

func TestStartErrors(t *testing.T) {
	forEachEngine(t, func(t *testing.T, portable bool) {
		b := newBridge(t, Config{Portable: portable})
		ln := testnet.Listen(t)
		peer, fd := legPair(t, ln)
		if _, err := b.Start(Leg{FD: fd}, Leg{FD: -1}, Info{}, nil); err == nil {
			t.Fatal("Start accepted a leg without a descriptor")
		}
		// Start owns the descriptor even when it fails: the peer sees EOF.
		_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("peer read: %v, want EOF", err)
		}
	})
}

func TestKernelTLSAvailable(t *testing.T) {
	t.Logf("kernel TLS (TCP_ULP \"tls\") available: %v", KernelTLSAvailable())
}

// waitNoSessions waits (bounded) until the bridge lists no session: a session
// leaves the list just after its onEnd returns.
func waitNoSessions(t *testing.T, b Bridge) {
	t.Helper()
	// Bounded by time, not by a count of sleeps a busy machine stretches.
	for deadline := time.Now().Add(10 * time.Second); len(b.Sessions()) > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := len(b.Sessions()); n != 0 {
		t.Errorf("%d sessions left", n)
	}
}

// TestShortSpliceIsNotEmpty: splice(2) from a socket stops short when the
// pipe runs out of slots, not only when the socket is empty, so under
// edge-triggered epoll a short splice must not stand for "drained": the
// rest would wait for an edge that a peer with nothing more to send never
// raises. A one-slot pipe and a Unix-socket client leg (whose writes stay
// separate buffers in the socket) make every splice short.
func TestShortSpliceIsNotEmpty(t *testing.T) {
	b := newBridge(t, Config{PipeSize: os.Getpagesize(), CopyBufferSize: 1024})
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	client := os.NewFile(uintptr(fds[0]), "client")
	defer client.Close()
	if err := unix.SetNonblock(fds[1], true); err != nil {
		t.Fatal(err)
	}
	// Written before the session starts, so all of it waits in the socket:
	// 1 KiB fills the copy buffer and turns the direction to splice, then
	// short commands, a buffer each.
	var sent bytes.Buffer
	sent.Write(randomBytes(1024, 3))
	if _, err := client.Write(sent.Bytes()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 64; i++ {
		line := fmt.Sprintf("a%d NOOP\r\n", i)
		sent.WriteString(line)
		if _, err := client.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	backend, bfd := legPair(t, testnet.Listen(t))
	defer backend.Close()
	if _, err := b.Start(Leg{FD: fds[1]}, Leg{FD: bfd}, Info{ID: 1, Protocol: "imap"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := backend.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, sent.Len())
	if n, err := io.ReadFull(backend, got); err != nil {
		t.Fatalf("the backend got %d of the %d bytes the client sent: %v", n, sent.Len(), err)
	}
	if !bytes.Equal(got, sent.Bytes()) {
		t.Fatal("the backend got other bytes than the client sent")
	}
}
