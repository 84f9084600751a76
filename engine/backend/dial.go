package backend

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/sock"
)

// Dialer connects to backends. It is set up once, from the engine's
// options, and is safe for concurrent use.
type Dialer struct {
	// Net dials; its settings (keep-alive) apply to every backend socket.
	Net net.Dialer
	// Retries is how many times a failed connect is tried again, at once,
	// within the caller's deadline (Options.ConnectRetries).
	Retries int
	// LookupHost resolves host names (Options.LookupHost); nil: the
	// system resolver, on every dial.
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Dial connects to dest's port: from one of the destination's
// source addresses in turn, to each address of its host (resolved through
// LookupHost when set), a failed connect tried again up to Retries
// times, all within ctx's deadline. Addresses go to the
// dialer as netip values: no string to parse and no resolver on a login.
func (d *Dialer) Dial(ctx context.Context, dest *options.Destination, port int) (net.Conn, error) {
	targets, name, err := d.addrs(ctx, dest.Host, port)
	if err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; attempt <= d.Retries; attempt++ {
		if name != "" { // a host name with no LookupHost: the system resolver
			c, err := d.Net.DialContext(ctx, "tcp", name)
			if err == nil {
				return c, nil
			}
			if last = err; ctx.Err() != nil {
				return nil, err
			}
			continue
		}
		for _, t := range targets {
			c, err := d.dialTo(ctx, dest, t)
			if err == nil {
				return c, nil
			}
			if last = err; ctx.Err() != nil {
				return nil, err
			}
		}
	}
	return nil, last
}

// dialTo connects to t, from the destination's next source address when
// it has some. Without one the socket is not bound at all: Go's DialTCP
// binds a zero local address to the wildcard first, a system call per
// dial that also takes the ephemeral port at bind(2), from one range
// shared by every destination, instead of at connect(2).
func (d *Dialer) dialTo(ctx context.Context, dest *options.Destination, t netip.AddrPort) (net.Conn, error) {
	a, ok := dest.NextSource()
	if !ok {
		return d.Net.DialContext(ctx, "tcp", t.String())
	}
	bound := d.Net
	bound.Control = sock.BindAddressNoPort
	return bound.DialTCP(ctx, "tcp", netip.AddrPortFrom(a, 0), t)
}

// addrs lists the addresses to try, or, for a host name when no
// LookupHost is set, the host:port to hand the system resolver.
func (d *Dialer) addrs(ctx context.Context, host string, port int) ([]netip.AddrPort, string, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), uint16(port))}, "", nil
	}
	if d.LookupHost == nil {
		return nil, net.JoinHostPort(host, strconv.Itoa(port)), nil
	}
	addrs, err := d.LookupHost(ctx, host)
	if err != nil {
		return nil, "", err
	}
	if len(addrs) == 0 {
		return nil, "", errors.New("no address for " + host)
	}
	out := make([]netip.AddrPort, len(addrs))
	for i, a := range addrs {
		out[i] = netip.AddrPortFrom(a.Unmap(), uint16(port))
	}
	return out, "", nil
}
