package ticketkeys

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testcert"
)

// clock is a settable time for the ring.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func ring(t *testing.T, secret []byte, c *clock) *Ring {
	t.Helper()
	r, err := New(secret, time.Hour, 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		r.now = c.now
		if err := r.Set(secret, time.Hour, 12*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// pair is a server config built on r and a client that trusts it and
// keeps its sessions.
func pair(t *testing.T, r *Ring, version uint16) (*tls.Config, *tls.Config) {
	t.Helper()
	cert, certPEM, _, err := testcert.New("mail.example.test")
	if err != nil {
		t.Fatal(err)
	}
	srv := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version}
	r.Apply(srv)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	cli := &tls.Config{ServerName: "mail.example.test", RootCAs: pool, MinVersion: version, MaxVersion: version,
		ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	return srv, cli
}

// handshake runs one handshake over a pipe and reports whether the client
// resumed. The client reads one byte so that a TLS 1.3 ticket (sent after
// the handshake) reaches its cache.
func handshake(t *testing.T, srv, cli *tls.Config) bool {
	t.Helper()
	a, b := net.Pipe()
	errc := make(chan error, 1)
	go func() {
		s := tls.Server(a, srv)
		defer a.Close() // not s.Close: its close_notify would wait on the pipe
		if err := s.Handshake(); err != nil {
			errc <- err
			return
		}
		_, err := s.Write([]byte("x"))
		errc <- err
	}()
	c := tls.Client(b, cli)
	defer b.Close()
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return c.ConnectionState().DidResume
}

var secretA = bytes.Repeat([]byte{'a'}, 32)
var secretB = bytes.Repeat([]byte{'b'}, 32)

func TestAnotherInstanceWithTheSameSecretResumes(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		srvA, cli := pair(t, ring(t, secretA, nil), v)
		srvB, _ := pair(t, ring(t, secretA, nil), v)
		srvB.Certificates = srvA.Certificates
		if handshake(t, srvA, cli) {
			t.Fatalf("version %x: the first handshake resumed", v)
		}
		if !handshake(t, srvB, cli) {
			t.Fatalf("version %x: a second instance sharing the secret did not resume the session", v)
		}
	}
}

func TestAnotherSecretDoesNotResume(t *testing.T) {
	srvA, cli := pair(t, ring(t, secretA, nil), tls.VersionTLS13)
	srvB, _ := pair(t, ring(t, secretB, nil), tls.VersionTLS13)
	srvB.Certificates = srvA.Certificates
	handshake(t, srvA, cli)
	if handshake(t, srvB, cli) {
		t.Fatal("a ticket sealed under another secret resumed")
	}
	if !handshake(t, srvB, cli) {
		t.Fatal("the full handshake's new ticket did not resume on the same instance")
	}
}

func TestTicketsExpireWithTheirEpochs(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC)}
	r := ring(t, secretA, c)
	ss := sessionState(t, r)
	ticket, err := r.Wrap(tls.ConnectionState{}, ss)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after time.Duration
		opens bool
	}{{0, true}, {time.Hour, true}, {12 * time.Hour, true}, {13 * time.Hour, false}} {
		c.t = time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC).Add(tc.after)
		got, err := r.Unwrap(ticket, tls.ConnectionState{})
		if err != nil || (got != nil) != tc.opens {
			t.Errorf("%v later: opened=%v err=%v, want opened=%v", tc.after, got != nil, err, tc.opens)
		}
	}
	// A ticket from an instance whose clock is one epoch ahead opens.
	ahead := ring(t, secretA, &clock{t: time.Date(2026, 12, 6, 11, 30, 0, 0, time.UTC)})
	early, _ := ahead.Wrap(tls.ConnectionState{}, ss)
	c.t = time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC)
	if got, _ := r.Unwrap(early, tls.ConnectionState{}); got == nil {
		t.Error("a ticket from the next epoch did not open")
	}
}

func TestDamagedTicketsGiveAFullHandshake(t *testing.T) {
	r := ring(t, secretA, nil)
	ticket, err := r.Wrap(tls.ConnectionState{}, sessionState(t, r))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ticket {
		bad := bytes.Clone(ticket)
		bad[i] ^= 0x40
		if got, err := r.Unwrap(bad, tls.ConnectionState{}); got != nil || err != nil {
			t.Fatalf("byte %d flipped: opened=%v err=%v", i, got != nil, err)
		}
	}
	for _, short := range [][]byte{nil, {1}, ticket[:headerLen+nonceLen]} {
		if got, err := r.Unwrap(short, tls.ConnectionState{}); got != nil || err != nil {
			t.Fatalf("%d bytes: opened=%v err=%v", len(short), got != nil, err)
		}
	}
}

func TestSetRefusesWeakSecretsAndPeriods(t *testing.T) {
	if _, err := New(make([]byte, 31), time.Hour, time.Hour); err == nil {
		t.Error("a 31-byte secret was accepted")
	}
	if _, err := New(secretA, 2*time.Hour, time.Hour); err == nil {
		t.Error("a rotation longer than the lifetime was accepted")
	}
	if _, err := New(secretA, 0, time.Hour); err == nil {
		t.Error("a zero rotation was accepted")
	}
}

// sessionState captures a real server session through the ring's Wrap.
func sessionState(t *testing.T, r *Ring) *tls.SessionState {
	t.Helper()
	var got *tls.SessionState
	srv, cli := pair(t, r, tls.VersionTLS13)
	srv.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		got = ss
		return r.Wrap(cs, ss)
	}
	handshake(t, srv, cli)
	if got == nil {
		t.Fatal("the server issued no ticket")
	}
	return got
}
