package app

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/health"
	"github.com/switchyard-mail/switchyard/internal/app/drivers"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/smtp"
)

func init() {
	drivers.Register(config.Submission, func(c *config.Config) options.Driver { return newSubmissionDriver(c) })
}

// submissionDriver builds SMTP submission state machines (ports 587 and
// 465) from [capabilities.submission] and [server] hostname.
//
// The EHLO extension list is the configured one, narrowed at start to what
// the default destination offers (the client talks MAIL/RCPT/DATA with the
// backend directly); other destinations are assumed to offer as much.
type submissionDriver struct {
	caps     config.SubmissionCapabilities
	hostname string
}

func newSubmissionDriver(c *config.Config) *submissionDriver {
	d := &submissionDriver{caps: c.Capabilities.Submission, hostname: drivers.ServerHostname(c)}
	configured := d.caps.EHLO
	if configured == nil {
		configured = []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"}
	}
	learned, err := learnEHLO(c, 3*time.Second)
	switch {
	case err != nil:
		slog.Warn("submission: could not ask the default destination for its EHLO extensions; advertising the configured list", "err", err)
	case learned != nil:
		d.caps.EHLO = smtp.NarrowExtensions(configured, learned)
	}
	return d
}

// learnEHLO asks the default destination's submission service for its EHLO
// keywords (health.EHLO). It returns nil when there is nothing to ask.
func learnEHLO(c *config.Config, timeout time.Duration) ([]string, error) {
	t, ok, err := ehloTarget(c)
	if !ok || err != nil {
		return nil, err
	}
	host := c.Server.Hostname
	if host == "" {
		host = "switchyard.invalid"
	}
	return health.EHLO(context.Background(), t, host, timeout)
}

// ehloTarget is the default destination's submission service, as the
// engine's legs reach it; false when there is none.
func ehloTarget(c *config.Config) (health.Target, bool, error) {
	id := c.Routing.DefaultDestination
	d, ok := c.Destination[id]
	if !ok {
		return health.Target{}, false, nil
	}
	ep, ok := d.Protocol[config.Submission]
	if !ok {
		return health.Target{}, false, nil
	}
	// The legs' client TLS config (clientTLS) is made with the engine's
	// destinations, after the drivers: make the same one here.
	var tc *tls.Config
	if ep.TLS == config.TLSImplicit {
		var err error
		if tc, err = clientTLS(id, &d); err != nil {
			return health.Target{}, false, err
		}
	}
	return healthTarget(id, &d, config.Submission, tc), true, nil
}

func (d *submissionDriver) NewFrontEnd(l *options.Listener, tlsActive bool) protocols.FrontEnd {
	return smtp.NewServer(smtp.ServerConfig{
		Hostname:             d.hostname,
		Banner:               d.caps.Banner,
		Extensions:           d.caps.EHLO,
		SASL:                 d.caps.SASL,
		StartTLS:             l.TLS == options.TLSStartTLS,
		TLSActive:            tlsActive,
		AllowPlainWithoutTLS: d.caps.AllowPlainAuthWithoutTLS,
		MaxAuthAttempts:      l.MaxAuthAttempts,
	})
}

func (d *submissionDriver) NewBackEnd(login *protocols.Login, dest *options.Destination, startTLS bool, fwd *forward.Info) protocols.BackEnd {
	// fwd is the engine's copy; smtp.NewBackend copies it again and adds
	// the client's HELO name and protocol from login.ClientID.
	return smtp.NewBackend(smtp.BackendConfig{
		ReplayConfig: protocols.ReplayConfig{Login: login, StartTLS: startTLS, Forward: fwd, HideAuthErrors: dest.HideAuthErrors},
		Hostname:     d.hostname,
	})
}
