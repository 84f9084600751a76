//go:build linux

package splice

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// The idle-sessions test needs 4 sockets per session: with both test peers
// in this process, 9,000 sessions would take 36,000 descriptors against a
// limit of 20,000. So the peers live in a child process (this test binary
// again, selected by peerChildEnv): it holds 18,000 descriptors, this process
// the 18,000 bridged ones.
const peerChildEnv = "SPLICE_TEST_PEER_CHILD"

func idleSessionCount() int {
	if testing.Short() {
		return 2000
	}
	return 9000
}

func TestIdleSessions(t *testing.T) {
	if os.Getenv(peerChildEnv) != "" {
		runPeerChild()
		return
	}
	n := idleSessionCount()
	ln := testnet.Listen(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleSessions$", "-test.count=1")
	cmd.Env = append(os.Environ(), peerChildEnv+"="+ln.Addr().String()+","+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	toChild, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	fromChild := bufio.NewReader(out)
	t0 := time.Now()

	// Accept 2n connections; each starts with its index: 0..n-1 are client
	// peers, n..2n-1 backend peers.
	fds := make([]int, 2*n)
	conns := make(chan net.Conn, 64)
	go func() {
		defer close(conns)
		for range fds {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	var accepted sync.WaitGroup
	acceptErrs := make(chan error, 8)
	for range 8 {
		accepted.Add(1)
		go func() {
			defer accepted.Done()
			for c := range conns {
				var hdr [4]byte
				_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					acceptErrs <- err
					return
				}
				fds[binary.BigEndian.Uint32(hdr[:])] = detach(t, c)
			}
		}()
	}
	accepted.Wait()
	close(acceptErrs)
	if err := <-acceptErrs; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d peers connected in %v", 2*n, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	b := newBridge(t, Config{})
	eb := b.(*epBridge)
	var ends sync.WaitGroup
	var mu sync.Mutex
	reasons := map[string]int{}
	onEnd := func(_ Info, st Stats) {
		mu.Lock()
		reasons[st.Reason]++
		mu.Unlock()
		ends.Done()
	}
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutinesBefore := runtime.NumGoroutine()
	ends.Add(n)
	for i := range n {
		if _, err := b.Start(Leg{FD: fds[i]}, Leg{FD: fds[n+i]},
			Info{ID: uint64(i), Account: "idle@example.org", Protocol: "imap", Destination: "b1", Client: "127.0.0.1"}, onEnd); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10000 && eb.added.Load() < int64(n); i++ {
		time.Sleep(time.Millisecond)
	}
	if eb.added.Load() != int64(n) {
		t.Fatalf("%d of %d sessions registered", eb.added.Load(), n)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	goroutinesAfter := runtime.NumGoroutine()
	perSession := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(n)
	t.Logf("%d idle bridged sessions: %d B of heap per session, goroutines %d -> %d, pipes open %d",
		n, perSession, goroutinesBefore, goroutinesAfter, eb.pipes.Load())
	if perSession > 1024 {
		t.Errorf("%d B of user-space memory per idle session, want <= 1 KiB", perSession)
	}
	if goroutinesAfter > goroutinesBefore+2 {
		t.Errorf("goroutines grew from %d to %d with %d sessions", goroutinesBefore, goroutinesAfter, n)
	}
	if got := len(b.Sessions()); got != n {
		t.Errorf("Sessions() lists %d, want %d", got, n)
	}

	t.Logf("sessions started in %v", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	// Every session still carries bytes both ways.
	fmt.Fprintln(toChild, "ping")
	line, err := fromChild.ReadString('\n')
	if err != nil || line != "pinged "+strconv.Itoa(n)+"\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	// The child closes every peer; every session ends cleanly.
	t.Logf("pinged in %v", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	fmt.Fprintln(toChild, "close")
	done := make(chan struct{})
	go func() { ends.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("sessions did not end: %v", reasons)
	}
	t.Logf("ended in %v", time.Since(t0).Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	if reasons[ReasonClientClosed]+reasons[ReasonBackendClosed] != n {
		t.Errorf("reasons: %v", reasons)
	}
	if p := eb.pipes.Load(); p > int64(eb.keepPipes*len(eb.loops)) {
		t.Errorf("%d pipes still open", p)
	}
}

// runPeerChild is the child side: dial the peers, then on "ping" send a
// message through every session and have the backend answer it, then on
// "close" close everything.
func runPeerChild() {
	var addr string
	var n int
	env := os.Getenv(peerChildEnv)
	for i := range env {
		if env[i] == ',' {
			addr = env[:i]
			n, _ = strconv.Atoi(env[i+1:])
		}
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "peer child:", err)
		os.Exit(2)
	}
	conns := make([]net.Conn, 2*n)
	var dialed sync.WaitGroup
	for w := range 8 {
		dialed.Add(1)
		go func() {
			defer dialed.Done()
			for i := w; i < len(conns); i += 8 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					fail(err)
				}
				var hdr [4]byte
				binary.BigEndian.PutUint32(hdr[:], uint32(i))
				if _, err := c.Write(hdr[:]); err != nil {
					fail(err)
				}
				conns[i] = c
			}
		}()
	}
	dialed.Wait()
	in := bufio.NewReader(os.Stdin)
	if line, _ := in.ReadString('\n'); line != "ping\n" {
		fail(fmt.Errorf("unexpected %q", line))
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := pingSession(conns[i], conns[n+i], i); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		fail(err)
	default:
	}
	fmt.Printf("pinged %d\n", n)
	if line, _ := in.ReadString('\n'); line != "close\n" {
		fail(fmt.Errorf("unexpected %q", line))
	}
	for _, c := range conns {
		c.Close()
	}
}

func pingSession(client, backend net.Conn, i int) error {
	deadline := time.Now().Add(30 * time.Second)
	_ = client.SetDeadline(deadline)
	_ = backend.SetDeadline(deadline)
	msg := fmt.Appendf(nil, "a%08d NOOP\r\n", i)
	if _, err := client.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(backend, got); err != nil || string(got) != string(msg) {
		return fmt.Errorf("session %d: backend got %q, %v", i, got, err)
	}
	reply := fmt.Appendf(nil, "a%08d OK\r\n", i)
	if _, err := backend.Write(reply); err != nil {
		return err
	}
	got = make([]byte, len(reply))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != string(reply) {
		return fmt.Errorf("session %d: client got %q, %v", i, got, err)
	}
	return nil
}
