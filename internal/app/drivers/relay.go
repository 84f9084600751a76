package drivers

import (
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	smtp "github.com/switchyard-mail/switchyard/protocols/smtprelay"
)

func init() {
	Register(config.SMTP, func(c *config.Config) options.Driver { return newRelayDriver(c, false) })
	Register(config.LMTP, func(c *config.Config) options.Driver { return newRelayDriver(c, true) })
}

// relayDriver serves smtp (port 25) and lmtp listeners. A listener that
// routes recipients gets a smtp.Relay per connection; one in pass-through
// mode is bridged by the engine to the fixed destination, with this
// driver's front end for the failure replies and its back end for XCLIENT.
type relayDriver struct {
	lmtp      bool
	hostname  string
	ttl       int
	listeners map[string]config.Listener
}

func newRelayDriver(c *config.Config, lmtp bool) *relayDriver {
	return &relayDriver{lmtp: lmtp, hostname: ServerHostname(c), ttl: c.Server.ProxyTTL, listeners: c.Listener}
}

func (d *relayDriver) NewRelay(l *options.Listener, tlsActive bool) protocols.Relay {
	cl := d.listeners[l.ID]
	return smtp.NewRelay(smtp.RelayConfig{
		LMTP:           d.lmtp,
		Hostname:       d.hostname,
		StartTLS:       l.TLS == options.TLSStartTLS,
		TLSActive:      tlsActive,
		MaxRecipients:  cl.MaxRecipients,
		MaxMessageSize: int64(cl.MaxMessageSize),
		TTL:            d.ttl,
	})
}

func (d *relayDriver) NewFrontEnd(*options.Listener, bool) protocols.FrontEnd {
	return smtp.NewPassthroughFront(smtp.PassthroughConfig{LMTP: d.lmtp, Hostname: d.hostname})
}

func (d *relayDriver) NewBackEnd(_ *protocols.Login, _ *options.Destination, _ bool, fwd *forward.Info) protocols.BackEnd {
	return smtp.NewPassthroughBackend(smtp.PassthroughBackendConfig{LMTP: d.lmtp, Hostname: d.hostname, Forward: fwd, TTL: d.ttl})
}
