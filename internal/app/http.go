package app

import (
	"context"
	"net"
	"strconv"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine/h2"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/internal/app/drivers"
	"github.com/switchyard-mail/switchyard/internal/h2proxy"
)

// newH2Server builds the HTTP/2 side: the same routes, the router, and
// the destinations as the engine has them now (reloads included).
func (a *App) newH2Server(d *drivers.HTTP) *h2proxy.Server {
	c := d.H2Config()
	c.ResolveTimeout = a.cfg.Mapping.LookupTimeout.D()
	c.Logger = a.log.With("component", "h2")
	c.Resolve = func(ctx context.Context, id string) (string, error) {
		res, err := a.eng.ResolveStream(ctx, id)
		return res.Destination, err
	}
	c.FDs = a.fds
	// Every stream passes the engine's admission gate (holds, the
	// destination, its breaker) and is listed while it runs.
	c.Admit = func(s h2proxy.Stream) (func(bool), int, string) {
		return a.eng.AdmitStream(h2.Stream{Client: s.Client, Account: s.Account, Destination: s.Destination, Cancel: s.Cancel})
	}
	c.Target = func(id string) (h2proxy.Target, bool) {
		dest := a.eng.Destination(id)
		if dest == nil {
			return h2proxy.Target{}, false
		}
		dp, ok := dest.Protocols[string(config.HTTP)]
		if !ok {
			return h2proxy.Target{}, false
		}
		scheme := "http"
		if dp.TLS != options.TLSPlain {
			scheme = "https"
		}
		return h2proxy.Target{
			URL:       scheme + "://" + net.JoinHostPort(dest.Host, strconv.Itoa(dp.Port)),
			TLS:       dest.TLSConfig,
			Forwarded: d.Forwarded(id),
		}, true
	}
	return h2proxy.New(c)
}
