package drivers

import (
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/pop3"
)

func init() {
	Register(config.POP3, func(c *config.Config) options.Driver { return newPOP3Driver(c) })
}

// pop3Driver builds POP3 state machines from [capabilities.pop3].
type pop3Driver struct {
	caps config.POP3Capabilities
}

func newPOP3Driver(c *config.Config) *pop3Driver {
	return &pop3Driver{caps: c.Capabilities.POP3}
}

func (d *pop3Driver) NewFrontEnd(l *options.Listener, tlsActive bool) protocols.FrontEnd {
	return pop3.NewServer(pop3.ServerConfig{
		SASL:                 d.caps.SASL,
		Banner:               d.caps.Banner,
		StartTLS:             l.TLS == options.TLSStartTLS,
		TLSActive:            tlsActive,
		AllowPlainWithoutTLS: d.caps.AllowPlainAuthWithoutTLS,
		NoUTF8:               d.caps.DisableUTF8,
		MaxAuthAttempts:      l.MaxAuthAttempts,
	})
}

// NewBackEnd: with forwarding = xclient (fwd non-nil) the client's address
// goes in XCLIENT when the backend advertises it (Dovecot's pop3-login
// does to trusted peers); forwarding = proxy is the engine's PROXY header.
// The client's UTF8 travels in login.ClientID and the Backend repeats it.
func (d *pop3Driver) NewBackEnd(login *protocols.Login, dest *options.Destination, startTLS bool, fwd *forward.Info) protocols.BackEnd {
	return pop3.NewBackend(pop3.BackendConfig{Login: login, StartTLS: startTLS, Forward: fwd, HideAuthErrors: dest.HideAuthErrors})
}
