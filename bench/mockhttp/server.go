// Package mockhttp is a small HTTP/1.1 backend for the bench and the HTTP
// tests: it answers a JMAP-like POST (by default on /jmap/api, any path
// works) with a short JSON document naming the backend and the account of
// the request's Basic credentials, with keep-alive. It is built on
// net/http: fast enough for a mock, and a well-known server behaviour for
// a proxy to be measured against.
package mockhttp

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// MaxBody bounds a request body the mock reads; a longer one gets 413.
const MaxBody = 1 << 20

// Config describes one mock backend.
type Config struct {
	// Name is in every answer ("backend":"<Name>").
	Name string
	// Users, when non-empty, are the only accepted Basic credentials
	// (login → password); others get 401. Empty accepts any request,
	// with or without credentials.
	Users map[string]string
	// TLS, when set, makes the listener TLS from the first byte (https).
	TLS *tls.Config
	// IdleTimeout closes a keep-alive connection idle this long
	// (default 2 min).
	IdleTimeout time.Duration
}

// Server is a running mock backend.
type Server struct {
	cfg  Config
	ln   net.Listener
	srv  *http.Server
	done chan struct{}

	requests     atomic.Int64
	unauthorized atomic.Int64
	conns        atomic.Int64
}

// Listen starts a server on addr ("127.0.0.1:0").
func Listen(addr string, cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	s := &Server{cfg: cfg, ln: ln, done: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.conns.Add(1)
			}
		},
	}
	l := ln
	if cfg.TLS != nil {
		l = tls.NewListener(ln, cfg.TLS)
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(l)
	}()
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Name is the backend's name.
func (s *Server) Name() string { return s.cfg.Name }

// Requests counts the requests answered 200.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Unauthorized counts the requests answered 401.
func (s *Server) Unauthorized() int64 { return s.unauthorized.Load() }

// Connections counts the connections accepted.
func (s *Server) Connections() int64 { return s.conns.Load() }

// Close stops accepting and closes every connection.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// User returns the login of a Basic Authorization header value ("" when
// there is none or it is malformed) and its password.
func User(authorization string) (user, password string) {
	scheme, cred, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", ""
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", ""
	}
	user, password, _ = strings.Cut(string(b), ":")
	return user, password
}

// ServeHTTP answers every request: the body (at most MaxBody bytes) is
// read and discarded, then
//
//	{"methodResponses":[["Core/echo",{"backend":"<Name>","user":"<login>","method":"POST","path":"/jmap/api","received":<bytes>},"c0"]],"sessionState":"<Name>"}
//
// with Content-Length, so the connection stays open.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass := User(r.Header.Get("Authorization"))
	if len(s.cfg.Users) > 0 {
		if want, ok := s.cfg.Users[user]; !ok || want != pass {
			s.unauthorized.Add(1)
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, MaxBody))
			w.Header().Set("WWW-Authenticate", `Basic realm="mock"`)
			http.Error(w, "unauthorized on "+s.cfg.Name, http.StatusUnauthorized)
			return
		}
	}
	n, err := io.Copy(io.Discard, io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if n > MaxBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	b := make([]byte, 0, 192+len(s.cfg.Name)*2+len(user)+len(r.URL.Path))
	b = append(b, `{"methodResponses":[["Core/echo",{"backend":`...)
	b = strconv.AppendQuote(b, s.cfg.Name)
	b = append(b, `,"user":`...)
	b = strconv.AppendQuote(b, user)
	b = append(b, `,"method":`...)
	b = strconv.AppendQuote(b, r.Method)
	b = append(b, `,"path":`...)
	b = strconv.AppendQuote(b, r.URL.Path)
	b = append(b, `,"received":`...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, `},"c0"]],"sessionState":`...)
	b = strconv.AppendQuote(b, s.cfg.Name)
	b = append(b, "}\n"...)
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	s.requests.Add(1)
	_, _ = w.Write(b)
}
