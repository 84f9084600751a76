package tlsconn

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"time"
)

// State is the TLS layer of a connection on an event loop (a client
// connection or a backend leg): the transport, crypto/tls over it, and
// whether the handshake is done, after which records flow in loop mode.
type State struct {
	TR     *Conn
	TC     *tls.Conn
	Active bool
}

// Start runs a handshake on its own goroutine over a new transport, the
// server's side with cfg when server is true, else the client's; it ends
// by itself after timeout. wake asks the loop to look at the connection
// (the goroutine wrote output or finished).
func (s *State) Start(local, remote net.Addr, wake func(), cfg *tls.Config, server bool, timeout time.Duration) {
	s.TR = New(local, remote, wake)
	if server {
		s.TC = tls.Server(s.TR, cfg)
	} else {
		s.TC = tls.Client(s.TR, cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	tc := s.TC
	s.TR.StartHandshake(ctx, func(ctx context.Context) error {
		defer cancel()
		return tc.HandshakeContext(ctx)
	})
}

// Send writes b to w: as TLS records once the handshake is done, else as
// it is.
func (s *State) Send(w io.Writer, b []byte) error {
	var err error
	if s.Active {
		_, err = s.TC.Write(b)
	} else {
		_, err = w.Write(b)
	}
	return err
}

// Finish moves a connection whose handshake succeeded to loop mode:
// records are written with write from now on.
func (s *State) Finish(write func([]byte) (int, error)) error {
	if err := s.TR.SetLoopMode(write); err != nil {
		return err
	}
	s.Active = true
	return nil
}

// Buffered is what the transport holds undecrypted (0 without TLS).
func (s *State) Buffered() int {
	if s.TR == nil {
		return 0
	}
	return s.TR.Buffered()
}
