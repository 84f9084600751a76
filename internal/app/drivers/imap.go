package drivers

import (
	"sync"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/imap"
)

func init() {
	Register(config.IMAP, func(c *config.Config) options.Driver { return newIMAPDriver(c) })
}

// imapDriver builds IMAP state machines from [capabilities.imap].
type imapDriver struct {
	caps     config.IMAPCapabilities
	serverID []string
	profiles sync.Map // *options.Listener -> *imap.Profile, shared by its connections
}

func newIMAPDriver(c *config.Config) *imapDriver {
	return &imapDriver{caps: c.Capabilities.IMAP, serverID: []string{"name", "switchyard"}}
}

func (d *imapDriver) NewFrontEnd(l *options.Listener, tlsActive bool) protocols.FrontEnd {
	if p, ok := d.profiles.Load(l); ok {
		return p.(*imap.Profile).NewServer(tlsActive)
	}
	p := imap.NewProfile(imap.ServerConfig{
		Capabilities:         d.caps.Advertise,
		SASL:                 d.caps.SASL,
		Banner:               d.caps.Banner,
		StartTLS:             l.TLS == options.TLSStartTLS,
		AllowPlainWithoutTLS: d.caps.AllowPlainAuthWithoutTLS,
		MaxAuthAttempts:      l.MaxAuthAttempts,
		ServerID:             d.serverID,
	})
	actual, _ := d.profiles.LoadOrStore(l, p)
	return actual.(*imap.Profile).NewServer(tlsActive)
}

func (d *imapDriver) NewBackEnd(login *protocols.Login, dest *options.Destination, startTLS bool, fwd *forward.Info) protocols.BackEnd {
	var id []string
	if fwd != nil { // forwarding = xclient: Dovecot reads x-originating-* from ID
		id = forward.IMAPIDParams(*fwd, login.ClientID)
	}
	return imap.NewBackend(imap.BackendConfig{
		Login:          login,
		StartTLS:       startTLS,
		IDParams:       id,
		HideAuthErrors: dest.HideAuthErrors,
	})
}
