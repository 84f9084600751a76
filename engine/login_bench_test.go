package engine

import (
	"bytes"
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/switchyard-mail/switchyard/engine/options"
	"golang.org/x/sys/unix"
)

// BenchmarkLogin measures the engine's login path end to end: accept,
// greeting, LOGIN, routing, dial, replay, verdict, hand-off, a line
// through the bridge, close. The client and the backend here use raw
// system calls on fixed buffers and allocate nothing, so -benchmem's
// allocations are the proxy's (engine, gnet, bridge, Go's net package).
//
//	go test -run '^$' -bench BenchmarkLogin -benchmem ./engine/
func BenchmarkLogin(b *testing.B) {
	backend := rawBackend(b)
	h := startEngine(b, backend.port, func(o *options.Options, _ *options.Listener) {
		o.Logger = discardLogger()
	})
	addr := h.e.Addrs("fake")[0]
	sa := &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	buf := make([]byte, 4096)
	login := []byte("LOGIN bench\r\nping\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Connect(fd, sa); err != nil {
			b.Fatal(err)
		}
		if _, err := unix.Write(fd, login); err != nil {
			b.Fatal(err)
		}
		// HELLO, OK bench, bench: ping
		got := 0
		for bytes.Count(buf[:got], []byte("\n")) < 3 {
			n, err := unix.Read(fd, buf[got:])
			if err != nil || n == 0 {
				b.Fatalf("read: %v after %q", err, buf[:got])
			}
			got += n
		}
		unix.Close(fd)
	}
	b.StopTimer()
	backend.close()
}

// rawBackend is the fake protocol's backend on one locked thread with
// blocking system calls: greets, answers AUTH with OK, echoes lines
// prefixed with "bench: ".
type rawBackendServer struct {
	f    *os.File // keeps fd open
	fd   int
	port int
	done chan struct{}
}

func rawBackend(b *testing.B) *rawBackendServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File() // a blocking copy of the socket
	if err != nil {
		b.Fatal(err)
	}
	ln.Close()
	s := &rawBackendServer{f: f, fd: int(f.Fd()), port: ln.Addr().(*net.TCPAddr).Port, done: make(chan struct{})}
	_ = unix.SetNonblock(s.fd, false)
	go func() {
		defer close(s.done)
		runtime.LockOSThread()
		buf := make([]byte, 4096)
		for {
			c, _, err := unix.Accept4(s.fd, unix.SOCK_CLOEXEC)
			if err != nil {
				return
			}
			unix.Write(c, []byte("READY\r\n"))
			got, state := 0, 0
			for state < 2 {
				n, err := unix.Read(c, buf[got:])
				if err != nil || n == 0 {
					break
				}
				got += n
				for {
					i := bytes.IndexByte(buf[:got], '\n')
					if i < 0 {
						break
					}
					if state == 0 {
						unix.Write(c, []byte("OK bench\r\n"))
					} else {
						unix.Write(c, []byte("bench: ping\r\n"))
					}
					state++
					copy(buf, buf[i+1:got])
					got -= i + 1
				}
			}
			for {
				if n, err := unix.Read(c, buf); n <= 0 || err != nil {
					break
				}
			}
			unix.Close(c)
		}
	}()
	return s
}

func (s *rawBackendServer) close() {
	unix.Shutdown(s.fd, unix.SHUT_RDWR)
	<-s.done
	s.f.Close()
}
