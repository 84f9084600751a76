package h2proxy

// golang.org/x/net/http2 marks its server deprecated in favour of
// net/http's own, which serves only connections it accepts from a
// listener; the engine hands over single connections it has already
// decrypted, which is what http2.Server.ServeConn is for.
//lint:file-ignore SA1019 http2.Server.ServeConn serves a connection handed over by the engine

import (
	"context"
	"net"
	"net/netip"

	"github.com/switchyard-mail/switchyard/limits"
	"golang.org/x/net/http2"
)

// ServeConn serves one client connection that negotiated h2 (decrypted:
// tlsOn says it came over TLS), each stream on its own goroutine, and
// blocks until the connection ends; it closes conn. client is the
// client's address as the engine saw it (PROXY protocol included), used
// for Forwarded: conn's own addresses may be a loopback hand-over.
func (s *Server) ServeConn(conn net.Conn, client netip.AddrPort, tlsOn bool) {
	defer conn.Close()
	h2 := &http2.Server{
		IdleTimeout:          s.cfg.IdleTimeout,
		MaxConcurrentStreams: limits.H2MaxConcurrentStreams, // per client connection
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h2.ServeConn(conn, &http2.ServeConnOpts{
		Context:    ctx,
		BaseConfig: s.h1,
		Handler:    s.handler(client, tlsOn),
	})
}
