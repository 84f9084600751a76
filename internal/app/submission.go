package app

import (
	"os"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/smtp"
)

func init() {
	registerDriver(config.Submission, func(c *config.Config) engine.Driver { return newSubmissionDriver(c) })
}

// submissionDriver builds SMTP submission state machines (ports 587 and
// 465) from [capabilities.submission] and [server] hostname.
//
// The EHLO extension list is the configured, static one: it is not yet
// learned from the destinations, so it must not name what a backend cannot
// do (the client talks MAIL/RCPT/DATA with the backend directly).
type submissionDriver struct {
	caps     config.SubmissionCapabilities
	hostname string
}

func newSubmissionDriver(c *config.Config) *submissionDriver {
	h := c.Server.Hostname
	if h == "" {
		// [server] hostname empty means the local address the client
		// connected to, which a driver is not told: the machine's name
		// is the closest stable answer.
		h, _ = os.Hostname()
	}
	return &submissionDriver{caps: c.Capabilities.Submission, hostname: h}
}

func (d *submissionDriver) NewFrontEnd(l *engine.Listener, tlsActive bool) protocols.FrontEnd {
	return smtp.NewServer(smtp.ServerConfig{
		Hostname:             d.hostname,
		Banner:               d.caps.Banner,
		Extensions:           d.caps.EHLO,
		SASL:                 d.caps.SASL,
		StartTLS:             l.TLS == engine.TLSStartTLS,
		TLSActive:            tlsActive,
		AllowPlainWithoutTLS: d.caps.AllowPlainAuthWithoutTLS,
		MaxAuthAttempts:      l.MaxAuthAttempts,
	})
}

func (d *submissionDriver) NewBackEnd(login *protocols.Login, dest *engine.Destination, startTLS bool, fwd *forward.Info) protocols.BackEnd {
	// fwd is the engine's copy; smtp.NewBackend copies it again and adds
	// the client's HELO name and protocol from login.ClientID.
	return smtp.NewBackend(smtp.BackendConfig{
		Login:          login,
		Hostname:       d.hostname,
		StartTLS:       startTLS,
		Forward:        fwd,
		HideAuthErrors: dest.HideAuthErrors,
	})
}
