// Package mockimap is a small, fast, in-process IMAP4rev1 server with one
// mailbox (INBOX) holding one marker message that names the server. It is
// the backend of the in-process tests (internal/app) and of the bench,
// where it must cost little so that the proxy is what gets measured.
//
// It speaks just enough IMAP for a proxy to be tested through it: greeting
// with capabilities, CAPABILITY, NOOP, ID (Dovecot's x-originating-* fields
// are recorded), STARTTLS or implicit TLS, LOGIN (atoms, quoted strings,
// literals {n} and {n+}), AUTHENTICATE PLAIN and LOGIN (with SASL-IR or
// continuation), ENABLE, SELECT/EXAMINE INBOX, FETCH/UID FETCH of the
// message, STATUS, LIST/LSUB, IDLE, CHECK, CLOSE, UNSELECT and LOGOUT. It
// can read a PROXY protocol v1/v2 header first. Commands are bounded to
// 64 KiB; anything unknown is answered BAD.
package mockimap

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/bench/internal/mockserver"
	"github.com/switchyard-mail/switchyard/internal/tcpserver"
)

// DefaultCapabilities are advertised when Config.Capabilities is empty.
var DefaultCapabilities = []string{"IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE", "AUTH=PLAIN", "AUTH=LOGIN"}

// Config describes one mock backend.
type Config struct {
	// Name appears in the greeting and in the marker message
	// ("Subject: Marker: you are on <Name>", body "backend=<Name>").
	Name string
	// Users maps login names to passwords.
	Users map[string]string
	// TLS, when set, is offered with STARTTLS, or used from the first byte
	// when ImplicitTLS is also set.
	TLS         *tls.Config
	ImplicitTLS bool
	// AcceptProxyHeader makes the server read an optional PROXY v1/v2
	// header before greeting. A client that sends none waits
	// ProxyHeaderTimeout (default 300 ms) for its greeting.
	AcceptProxyHeader  bool
	ProxyHeaderTimeout time.Duration
	// Capabilities replaces DefaultCapabilities. The server honours it:
	// AUTHENTICATE accepts only advertised AUTH= mechanisms, an initial
	// response needs SASL-IR, {n+} needs LITERAL+, ID/ENABLE/IDLE need their
	// names and LOGINDISABLED refuses LOGIN. STARTTLS is added (or removed)
	// according to TLS.
	Capabilities []string
	// MessageSize pads the marker message with filler lines to about this
	// many bytes (default: no filler, about 300 bytes).
	MessageSize int
	// Timeout closes a connection that sends nothing for this long
	// (default 30 minutes; IDLE counts as silence too).
	Timeout time.Duration
	// ByeAfterLogin names users whose login is accepted and then at once
	// followed by "* BYE" and a close, as a server does when a per-user
	// connection limit is reached or when it restarts.
	ByeAfterLogin map[string]bool
	// LoginGate, when set, is called before a login's verdict is sent
	// (with the login name): a test holds a login in flight by blocking
	// in it.
	LoginGate func(user string)
}

// Server is a running mock backend.
type Server struct {
	srv      tcpserver.Server
	cfg      Config
	msg      *message
	preCaps  []string // before login, without STARTTLS
	postCaps []string
	// The capability lists as sent: before login (in clear, and with TLS
	// where LOGINDISABLED no longer applies) and after.
	preJoined, tlsJoined, postJoined string
	capSet                           map[string]bool
	users                            map[string]string

	logins   atomic.Int64
	failures atomic.Int64

	mu       sync.Mutex
	lastAddr map[string]string
	lastID   map[string]map[string]string
}

// Listen starts a server on addr ("127.0.0.1:0" picks a port).
func Listen(addr string, cfg Config) (*Server, error) {
	if cfg.ImplicitTLS && cfg.TLS == nil {
		return nil, errors.New("mockimap: ImplicitTLS needs TLS")
	}
	if cfg.Name == "" {
		cfg.Name = "mock"
	}
	if strings.ContainsAny(cfg.Name, "\r\n \"\\()<>@") {
		return nil, errors.New("mockimap: Name must be a plain word")
	}
	if cfg.ProxyHeaderTimeout <= 0 {
		cfg.ProxyHeaderTimeout = 300 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Minute
	}
	caps := cfg.Capabilities
	if len(caps) == 0 {
		caps = DefaultCapabilities
	}
	s := &Server{
		cfg:      cfg,
		msg:      newMessage(cfg.Name, cfg.MessageSize),
		capSet:   make(map[string]bool),
		users:    make(map[string]string, len(cfg.Users)),
		lastAddr: make(map[string]string),
		lastID:   make(map[string]map[string]string),
	}
	for u, p := range cfg.Users {
		s.users[u] = p
	}
	for _, c := range caps {
		uc := strings.ToUpper(c)
		if uc == "STARTTLS" {
			continue
		}
		s.capSet[uc] = true
		s.preCaps = append(s.preCaps, c)
		if strings.HasPrefix(uc, "AUTH=") || uc == "SASL-IR" || uc == "LOGINDISABLED" {
			continue
		}
		s.postCaps = append(s.postCaps, c)
	}
	s.preJoined = strings.Join(s.preCaps, " ")
	s.postJoined = strings.Join(s.postCaps, " ")
	var tlsCaps []string
	for _, c := range s.preCaps {
		if !strings.EqualFold(c, "LOGINDISABLED") {
			tlsCaps = append(tlsCaps, c)
		}
	}
	s.tlsJoined = strings.Join(tlsCaps, " ")
	if err := s.srv.Listen(addr, s.serve); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr returns the listening address (host:port).
func (s *Server) Addr() string { return s.srv.Addr() }

// Name returns the configured name.
func (s *Server) Name() string { return s.cfg.Name }

// Logins returns the number of successful logins so far.
func (s *Server) Logins() int64 { return s.logins.Load() }

// FailedLogins returns the number of refused logins so far.
func (s *Server) FailedLogins() int64 { return s.failures.Load() }

// Sessions returns the number of connections open now.
func (s *Server) Sessions() int { return s.srv.Open() }

// PeakSessions returns the most connections that were open at once.
func (s *Server) PeakSessions() int { return s.srv.Peak() }

// LastClientAddr returns the client address of user's latest login: from
// the ID fields x-originating-ip/x-originating-port if sent, else from a
// PROXY header, else the TCP peer. It is "" if user never logged in.
func (s *Server) LastClientAddr(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAddr[user]
}

// LastID returns the ID parameters (keys lower-cased) sent on user's
// latest logged-in connection, or nil.
func (s *Server) LastID(user string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.lastID[user]
	if src == nil {
		return nil
	}
	out := make(map[string]string, len(src))
	for k, v := range src {
		out[k] = v
	}
	return out
}

// Close stops listening, closes every connection and waits for their
// goroutines to end. It is safe to call more than once.
func (s *Server) Close() error { return s.srv.Close() }

// prefixConn reads what a bufio.Reader already holds before the socket.
type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

func (s *Server) serve(raw net.Conn) {
	ss := &session{srv: s, raw: raw, peer: raw.RemoteAddr().String()}
	var conn net.Conn = raw
	br := bufio.NewReaderSize(raw, 4096)
	if s.cfg.AcceptProxyHeader {
		src, ok, err := mockserver.ReadProxyHeader(raw, br, s.cfg.ProxyHeaderTimeout)
		switch {
		case err != nil:
			return // a broken header: drop the connection as real servers do
		case ok:
			ss.proxied = src.String()
		}
		if br.Buffered() > 0 {
			conn = &prefixConn{Conn: raw, r: br}
		}
	}
	if s.cfg.ImplicitTLS {
		tc := tls.Server(conn, s.cfg.TLS)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		tc.SetDeadline(time.Time{})
		if conn != raw {
			// br still feeds tc the bytes it holds: read TLS through a new one.
			br = bufio.NewReaderSize(tc, 4096)
		} else {
			br.Reset(tc)
		}
		conn = tc
		ss.tls = true
	} else if conn != raw {
		// Bytes after the PROXY header stay in br; keep reading from it.
		conn = raw
	}
	ss.conn = conn
	ss.cr = commandReader{br: br, bw: bufio.NewWriterSize(conn, 4096), literalP: s.capSet["LITERAL+"]}
	ss.run()
}
