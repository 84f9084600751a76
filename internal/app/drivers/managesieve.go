package drivers

import (
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/managesieve"
)

func init() {
	Register(config.ManageSieve, func(c *config.Config) options.Driver { return newSieveDriver(c) })
}

// sieveDriver builds ManageSieve state machines from
// [capabilities.managesieve].
type sieveDriver struct {
	caps config.ManageSieveCapabilities
}

func newSieveDriver(c *config.Config) *sieveDriver {
	return &sieveDriver{caps: c.Capabilities.ManageSieve}
}

func (d *sieveDriver) NewFrontEnd(l *options.Listener, tlsActive bool) protocols.FrontEnd {
	return managesieve.NewServer(managesieve.ServerConfig{
		Implementation:       d.caps.Implementation,
		Sieve:                d.caps.Sieve,
		SASL:                 d.caps.SASL,
		StartTLS:             l.TLS == options.TLSStartTLS,
		TLSActive:            tlsActive,
		AllowPlainWithoutTLS: d.caps.AllowPlainAuthWithoutTLS,
		MaxAuthAttempts:      l.MaxAuthAttempts,
	})
}

// NewBackEnd: with forwarding = xclient (fwd non-nil) the client's address
// goes in XCLIENT when the backend advertises it (Dovecot's
// managesieve-login does to trusted peers).
func (d *sieveDriver) NewBackEnd(login *protocols.Login, dest *options.Destination, startTLS bool, fwd *forward.Info) protocols.BackEnd {
	return managesieve.NewBackend(managesieve.BackendConfig{Login: login, StartTLS: startTLS, Forward: fwd, HideAuthErrors: dest.HideAuthErrors})
}
