//go:build linux

package splice

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/engine/tlsconn"
	"github.com/switchyard-mail/switchyard/internal/testcert"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

var testTLS struct {
	once   sync.Once
	server *tls.Config
	client *tls.Config
}

func tlsConfigs(t testing.TB) (server, client *tls.Config) {
	testTLS.once.Do(func() {
		issued, err := testcert.Make(testcert.Spec{CommonName: "localhost", Names: []string{"localhost"}, ServerOnly: true})
		if err != nil {
			panic(err)
		}
		cert, err := issued.TLS()
		if err != nil {
			panic(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(issued.Leaf)
		testTLS.server = &tls.Config{Certificates: []tls.Certificate{cert}}
		testTLS.client = &tls.Config{RootCAs: pool, ServerName: "localhost"}
	})
	return testTLS.server, testTLS.client
}

// handshakeLeg runs a TLS handshake on the proxy's side of a, the way the
// engine does: crypto/tls over a tlsconn.Conn in handshake mode, fed by a
// reader goroutine and flushed on notify. It returns the leg for the bridge;
// bytes read after the handshake stay buffered in the transport.
func handshakeLeg(t testing.TB, a net.Conn, server bool) Leg {
	t.Helper()
	wake := make(chan struct{}, 1)
	tc := tlsconn.New(a.LocalAddr(), a.RemoteAddr(), func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	scfg, ccfg := tlsConfigs(t)
	var tc2 *tls.Conn
	if server {
		tc2 = tls.Server(tc, scfg)
	} else {
		tc2 = tls.Client(tc, ccfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc.StartHandshake(ctx, tc2.HandshakeContext)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 16<<10)
		for {
			n, err := a.Read(buf)
			tc.Feed(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case <-wake:
		case <-timeout:
			t.Fatal("handshake timed out")
		}
		if out := tc.TakeOutput(nil); len(out) > 0 {
			if _, err := a.Write(out); err != nil {
				t.Fatal(err)
			}
		}
		if done, err := tc.HandshakeResult(); done {
			if err != nil {
				t.Fatal(err)
			}
			if out := tc.TakeOutput(nil); len(out) > 0 {
				if _, err := a.Write(out); err != nil {
					t.Fatal(err)
				}
			}
			break
		}
	}
	_ = a.SetReadDeadline(time.Now())
	<-readerDone
	return Leg{FD: detach(t, a), TLS: tc2, Transport: tc}
}

type tlsSession struct {
	client    *tls.Conn // the test's TLS client
	backend   net.Conn  // plaintext backend peer, or the test's TLS server
	transport *tlsconn.Conn
	end       *ender
	s         *Session
}

// startTLS bridges a TLS client to a backend; the backend leg is TLS too when
// backendTLS is set.
func startTLS(t testing.TB, b Bridge, ln net.Listener, backendTLS bool, clientPrelude []byte) *tlsSession {
	t.Helper()
	scfg, ccfg := tlsConfigs(t)
	raw, a := testnet.Pair(t, ln)
	client := tls.Client(raw, ccfg)
	hs := make(chan error, 1)
	go func() { hs <- client.Handshake() }()
	cleg := handshakeLeg(t, a, true)
	if err := <-hs; err != nil {
		t.Fatal(err)
	}
	cleg.Prelude = clientPrelude
	var backend net.Conn
	var bleg Leg
	if !backendTLS {
		bp, bfd := legPair(t, ln)
		backend, bleg = bp, Leg{FD: bfd}
	} else {
		braw, ba := testnet.Pair(t, ln)
		srv := tls.Server(ba, scfg)
		go func() { hs <- srv.Handshake() }()
		bleg = handshakeLeg(t, braw, false)
		if err := <-hs; err != nil {
			t.Fatal(err)
		}
		backend = srv
	}
	e := newEnder()
	s, err := b.Start(cleg, bleg, Info{ID: 2, Protocol: "imaps"}, e.onEnd)
	if err != nil {
		t.Fatal(err)
	}
	return &tlsSession{client: client, backend: backend, transport: cleg.Transport.(*tlsconn.Conn), end: e, s: s}
}

// echo copies everything back, then half-closes.
func echo(c net.Conn) error {
	if _, err := io.Copy(c, c); err != nil {
		return err
	}
	return c.(interface{ CloseWrite() error }).CloseWrite()
}

func TestTLSClientLegEcho(t *testing.T) {
	for _, backendTLS := range []bool{false, true} {
		name := "plain-backend"
		if backendTLS {
			name = "tls-backend"
		}
		t.Run(name, func(t *testing.T) {
			forEachEngine(t, func(t *testing.T, portable bool) {
				b := newBridge(t, Config{Portable: portable})
				ts := startTLS(t, b, testnet.Listen(t), backendTLS, []byte("* OK [CAPABILITY IMAP4rev1] ready\r\n"))
				size := 24 << 20
				if testing.Short() {
					size = 6 << 20
				}
				data := randomBytes(size, 9)
				errs := make(chan error, 3)
				go func() { errs <- echo(ts.backend) }()
				go func() {
					rest := data
					for len(rest) > 0 {
						k := min(len(rest), 1+len(rest)%70001)
						if _, err := ts.client.Write(rest[:k]); err != nil {
							errs <- err
							return
						}
						rest = rest[k:]
					}
					errs <- ts.client.CloseWrite()
				}()
				n, got, err := recvAll(ts.client, 5, 40000)
				if err != nil {
					t.Fatal(err)
				}
				prelude := []byte("* OK [CAPABILITY IMAP4rev1] ready\r\n")
				if n != int64(len(prelude)+len(data)) || got != sum(prelude, data) {
					t.Fatalf("client got %d bytes back (want %d), checksum match %v", n, len(prelude)+len(data), got == sum(prelude, data))
				}
				for range 2 {
					if err := <-errs; err != nil {
						t.Fatal(err)
					}
				}
				st := ts.end.wait(t)
				if st.Reason != ReasonClientClosed || st.ClientToBackend != int64(len(data)) || st.BackendToClient != n {
					t.Errorf("stats %+v", st)
				}
			})
		})
	}
}

// TestTLSBackpressure: a backend that sends as fast as it can to a TLS
// client that reads slowly. The ciphertext the bridge holds for the client
// stays bounded (the source is not read while the destination has pending
// bytes) and everything arrives.
func TestTLSBackpressure(t *testing.T) {
	forEachEngine(t, func(t *testing.T, portable bool) {
		b := newBridge(t, Config{Portable: portable})
		ts := startTLS(t, b, testnet.Listen(t), false, nil)
		data := randomBytes(12<<20, 11)
		go func() {
			_, _ = ts.backend.Write(data)
			ts.backend.Close()
		}()
		var maxPending atomic.Int64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Microsecond):
				}
				if p := int64(ts.transport.PendingOut()); p > maxPending.Load() {
					maxPending.Store(p)
				}
			}
		}()
		var got []byte
		buf := make([]byte, 8<<10)
		for i := 0; ; i++ {
			n, err := ts.client.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if i%8 == 0 {
				time.Sleep(time.Millisecond) // a slow reader: ~64 MB/s at most
			}
		}
		close(stop)
		<-sampled
		ts.client.Close() // the backend is gone: the client ends its side too
		if sum(got) != sum(data) {
			t.Fatalf("client got %d bytes of %d, or different ones", len(got), len(data))
		}
		// One 64 KiB read turned into records, plus their overhead.
		const bound = 64<<10 + 4*(5+16+256)
		t.Logf("most ciphertext pending for the client: %d bytes", maxPending.Load())
		if maxPending.Load() > bound {
			t.Errorf("pending ciphertext reached %d bytes, bound %d", maxPending.Load(), bound)
		}
		if st := ts.end.wait(t); st.Reason != ReasonBackendClosed {
			t.Errorf("reason %q", st.Reason)
		}
	})
}
