package imapload

import (
	"context"
	"errors"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapclient"
	"github.com/switchyard-mail/switchyard/bench/internal/sources"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// Op runs single operations of the login and idle scenarios for a
// scenario that schedules them itself (bench/mixload): the options are
// checked once, the dialer and the phase histograms are kept across
// operations. Safe for concurrent use.
type Op struct {
	o  Options
	d  *sources.Dialer
	ph Phases
}

// NewOp checks o.
func NewOp(o Options) (*Op, error) {
	d, err := o.dialer()
	if err != nil {
		return nil, err
	}
	return &Op{o: o, d: d}, nil
}

// Login is one operation of the login storm: connect, [TLS], log in,
// NOOP (unless skipNoop), LOGOUT, then wait up to linger for the server
// to close first.
func (p *Op) Login(ctx context.Context, acct Account, skipNoop bool, linger time.Duration) error {
	if linger <= 0 {
		linger = time.Second
	}
	lo := LoginOptions{Options: p.o, SkipNoop: skipNoop, Linger: linger}
	return loginOnce(ctx, &lo, p.d, acct, &p.ph)
}

// Open connects, [starts TLS] and logs in, and hands the session over; its
// deadline is the start plus Timeout. The phases are recorded, not the
// whole operation (Latency counts Login operations only).
func (p *Op) Open(ctx context.Context, acct Account) (*imapclient.Client, error) {
	c, oerr := open(ctx, &p.o, p.d, acct, &p.ph, false, 4096, 1024)
	if oerr != nil {
		return nil, oerr
	}
	return c, nil
}

// Latency is the histogram of whole Login operations.
func (p *Op) Latency() *stats.Histogram { return &p.ph.Total }

// Phases summarises the steps so far (connect, tls, auth, noop, logout).
func (p *Op) Phases() map[string]stats.Summary { return p.ph.Summaries(p.o.TLS, false) }

// ErrorKind names a failure for the report as the scenarios do ("auth: NO
// [AUTHENTICATIONFAILED]", "connect: refused"); an error that does not
// come from this package is named "<phase>: <kind>".
func ErrorKind(phase string, err error) string {
	var oe *opError
	if errors.As(err, &oe) {
		return oe.kind()
	}
	return fail(phase, err).kind()
}
