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
// ConnectRetries times, all within ctx's deadline.
func (e *Engine) dialBackend(ctx context.Context, dest *Destination, port int) (net.Conn, error) {
	targets, err := e.backendAddrs(ctx, dest.Host, port)
	if err != nil {
		return nil, err
	}
	d := e.dialer // a copy: LocalAddr is per dial
	var last error
	for attempt := 0; attempt <= e.opt.ConnectRetries; attempt++ {
		for _, t := range targets {
			if n := len(dest.SourceAddrs); n > 0 {
				src := dest.SourceAddrs[int(dest.next.Add(1))%n]
				d.LocalAddr = &net.TCPAddr{IP: src.AsSlice(), Zone: src.Zone()}
			}
			c, err := d.DialContext(ctx, "tcp", t)
			if err == nil {
				return c, nil
			}
			last = err
			if ctx.Err() != nil {
				return nil, err
			}
		}
	}
	return nil, last
}

// backendAddrs lists the host:port pairs to try.
func (e *Engine) backendAddrs(ctx context.Context, host string, port int) ([]string, error) {
	p := strconv.Itoa(port)
	if _, err := netip.ParseAddr(host); err == nil || e.opt.LookupHost == nil {
		return []string{net.JoinHostPort(host, p)}, nil
	}
	addrs, err := e.opt.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, errors.New("no address for " + host)
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = netip.AddrPortFrom(a, uint16(port)).String()
	}
	return out, nil
}
