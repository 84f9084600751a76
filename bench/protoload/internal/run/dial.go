package protoload

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
)

// dialer picks source addresses round robin.
type dialer struct {
	target  string
	dialers []*net.Dialer
	n       atomic.Uint64
}

func newDialer(o *Options) (*dialer, error) {
	d := &dialer{target: o.Target}
	if o.Sources <= 1 {
		d.dialers = []*net.Dialer{{Timeout: o.Timeout}}
		return d, nil
	}
	host, _, _ := net.SplitHostPort(o.Target)
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("sources need an IPv4 loopback target, not %q", host)
	}
	for i := 1; i <= o.Sources; i++ {
		d.dialers = append(d.dialers, &net.Dialer{
			Timeout:   o.Timeout,
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i))},
			Control:   bindNoPort,
		})
	}
	return d, nil
}

func (d *dialer) dial(ctx context.Context) (net.Conn, error) {
	i := d.n.Add(1) % uint64(len(d.dialers))
	return d.dialers[i].DialContext(ctx, "tcp", d.target)
}
