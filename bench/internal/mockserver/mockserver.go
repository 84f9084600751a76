// Package mockserver is what the bench's in-process mock backends share
// besides their protocol: the listener (internal/tcpserver), the logins
// they accepted, the optional PROXY v1/v2 header read and SASL PLAIN.
package mockserver

import (
	"bufio"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-mail/switchyard/internal/tcpserver"
	"github.com/switchyard-mail/switchyard/protocols/forward"
)

// Backend is the part of a mock backend that does not speak its
// protocol, to embed: the listener (Start, Addr, Close) and the logins it
// accepted (RecordLogin, Logins, LastClientAddr).
type Backend struct {
	l      tcpserver.Server
	logins Logins
}

// Start listens on addr ("127.0.0.1:0") and serves each connection with
// serve.
func (b *Backend) Start(addr string, serve func(net.Conn)) error {
	return b.l.Listen(addr, serve)
}

// Addr is the listening address.
func (b *Backend) Addr() string { return b.l.Addr() }

// Close stops accepting and closes every connection.
func (b *Backend) Close() error { return b.l.Close() }

// RecordLogin notes a successful login of user, believed to come from
// addr.
func (b *Backend) RecordLogin(user, addr string) { b.logins.Record(user, addr) }

// Logins counts successful logins.
func (b *Backend) Logins() int { return b.logins.Count() }

// LastClientAddr is the client address (host:port) the server believed
// for user's last successful login: from XCLIENT, a PROXY header, or the
// socket.
func (b *Backend) LastClientAddr(user string) string { return b.logins.LastClientAddr(user) }

// Mock is a running mock backend whose sessions read a configuration C:
// Addr, Close, Logins and LastClientAddr are Backend's.
type Mock[C any] struct {
	Backend
	Cfg C
}

// Listen starts a Mock of cfg on addr ("127.0.0.1:0"); serve runs each
// connection.
func Listen[C any](addr string, cfg C, serve func(*Mock[C], net.Conn)) (*Mock[C], error) {
	m := &Mock[C]{Cfg: cfg}
	if err := m.Start(addr, func(c net.Conn) { serve(m, c) }); err != nil {
		return nil, err
	}
	return m, nil
}

// Open begins a line-based session on c: a minute to live, a reader and a
// writer, and the client's address (ClientAddr). ok false drops c.
func Open(c net.Conn, acceptProxy bool) (r *bufio.Reader, w *bufio.Writer, client string, ok bool) {
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r, w = bufio.NewReader(c), bufio.NewWriter(c)
	client, ok = ClientAddr(c, r, acceptProxy)
	return r, w, client, ok
}

// XClient is client (host:port) after an XCLIENT command's arguments
// ("ADDR=192.0.2.1 PORT=4711 ..."), as Dovecot's logins take them: ADDR
// and PORT replace their halves, other attributes are ignored.
func XClient(client, args string) string {
	for _, f := range strings.Fields(args) {
		k, v, _ := strings.Cut(f, "=")
		host, port, _ := net.SplitHostPort(client)
		switch strings.ToUpper(k) {
		case "ADDR":
			client = net.JoinHostPort(v, port)
		case "PORT":
			client = net.JoinHostPort(host, v)
		}
	}
	return client
}

// ClientAddr is the client address (host:port) of c: the socket's peer, or
// with acceptProxy the source of an optional PROXY v1/v2 header read from r.
// ok is false when a header was present but unreadable.
func ClientAddr(c net.Conn, r *bufio.Reader, acceptProxy bool) (addr string, ok bool) {
	addr = c.RemoteAddr().String()
	if !acceptProxy {
		return addr, true
	}
	src, ok, err := ReadProxyHeader(c, r, 300*time.Millisecond)
	switch {
	case err != nil:
		return "", false
	case ok:
		return src.String(), true
	}
	return addr, true
}

// ReadProxyHeader reads an optional PROXY header from r, waiting at most
// timeout for its first bytes: no header (ok false, nil error) when none
// comes or the bytes cannot start one, an error when one is broken.
func ReadProxyHeader(c net.Conn, r *bufio.Reader, timeout time.Duration) (src netip.AddrPort, ok bool, err error) {
	if timeout > 0 {
		_ = c.SetReadDeadline(time.Now().Add(timeout))
		defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	}
	src, _, ok, err = forward.ReadProxyHeader(r)
	if errors.Is(err, forward.ErrNoProxyHeader) || errors.Is(err, os.ErrDeadlineExceeded) {
		return src, false, nil
	}
	return src, ok, err
}

// Logins remembers, per user, the client address a mock believed at the
// user's last successful login (from XCLIENT, a PROXY header or the
// socket), and counts the logins. The zero value is ready.
type Logins struct {
	mu   sync.Mutex
	last map[string]string
	n    int
}

// Record notes a successful login of user, believed to come from addr.
func (l *Logins) Record(user, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]string{}
	}
	l.last[user] = addr
	l.n++
}

// LastClientAddr is the address believed at user's last successful login.
func (l *Logins) LastClientAddr(user string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last[user]
}

// Count is the number of successful logins.
func (l *Logins) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// DecodePlain reads a SASL PLAIN response in base64 (authzid NUL authcid
// NUL password); ok is false when it is not that.
func DecodePlain(b64 string) (user, pass string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 3 {
		return "", "", false
	}
	return parts[1], parts[2], true
}
