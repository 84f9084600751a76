// Package sources dials a target from several loopback source addresses
// (127.0.0.1 up, round robin) so that a load generator is not bounded by
// one address's ephemeral ports; the bench scenarios share it.
package sources

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// Dialer picks source addresses round robin.
type Dialer struct {
	target  string
	dialers []*net.Dialer
	n       atomic.Uint64
}

// NewDialer dials target from sources loopback addresses (127.0.0.1 up),
// or from the system's choice when sources is 1 or less.
func NewDialer(target string, sources int, timeout time.Duration) (*Dialer, error) {
	d := &Dialer{target: target}
	if sources <= 1 {
		d.dialers = []*net.Dialer{{Timeout: timeout}}
		return d, nil
	}
	host, _, _ := net.SplitHostPort(target)
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("sources need an IPv4 loopback target, not %q", host)
	}
	for i := 1; i <= sources; i++ {
		d.dialers = append(d.dialers, &net.Dialer{
			Timeout:   timeout,
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i))},
			Control:   bindNoPort,
		})
	}
	return d, nil
}

// Dial connects to the target from the next source address.
func (d *Dialer) Dial(ctx context.Context) (net.Conn, error) {
	i := d.n.Add(1) % uint64(len(d.dialers))
	return d.dialers[i].DialContext(ctx, "tcp", d.target)
}
