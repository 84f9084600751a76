package engine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
)

// dialBackend connects to dest's port: from one of the destination's
// source addresses in turn, to each address of its host (resolved through
// Options.LookupHost when set), a failed connect tried again up to
// ConnectRetries times, all within ctx's deadline. Addresses go to the
// dialer as netip values: no string to parse and no resolver on a login.
func (e *Engine) dialBackend(ctx context.Context, dest *Destination, port int) (net.Conn, error) {
	targets, name, err := e.backendAddrs(ctx, dest.Host, port)
	if err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; attempt <= e.opt.ConnectRetries; attempt++ {
		if name != "" { // a host name with no LookupHost: the system resolver
			c, err := e.dialer.DialContext(ctx, "tcp", name)
			if err == nil {
				return c, nil
			}
			if last = err; ctx.Err() != nil {
				return nil, err
			}
			continue
		}
		for _, t := range targets {
			var src netip.AddrPort
			if a, ok := dest.NextSource(); ok {
				src = netip.AddrPortFrom(a, 0)
			}
			c, err := e.dialer.DialTCP(ctx, "tcp", src, t)
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

// backendAddrs lists the addresses to try, or, for a host name when no
// LookupHost is set, the host:port to hand the system resolver.
func (e *Engine) backendAddrs(ctx context.Context, host string, port int) ([]netip.AddrPort, string, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), uint16(port))}, "", nil
	}
	if e.opt.LookupHost == nil {
		return nil, net.JoinHostPort(host, strconv.Itoa(port)), nil
	}
	addrs, err := e.opt.LookupHost(ctx, host)
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
