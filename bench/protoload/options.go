// Package protoload generates login storms for POP3, SMTP submission and
// ManageSieve, the way bench/imapload does for IMAP, measured with
// bench/stats. Each operation connects, reads the greeting, logs in with
// SASL PLAIN (initial response) or POP3 USER/PASS, sends NOOP and logs
// out, then waits for the server to close first. cmd/switchyard-bench
// wires it to --protocol; tests drive it against bench/mockpop3,
// bench/mocksmtp and bench/mocksieve. RunDeliver (the deliver scenario)
// sends messages over port-25 SMTP or LMTP instead (deliver.go).
package protoload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/internal/storm"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// Protocol names a protocol this package can load.
type Protocol string

const (
	POP3        Protocol = "pop3"
	Submission  Protocol = "submission"
	ManageSieve Protocol = "managesieve"
)

// Auth modes. Plain is AUTH PLAIN / AUTHENTICATE "PLAIN" with an initial
// response in every protocol; User is POP3's USER and PASS.
const (
	AuthPlain imapload.AuthMode = "plain"
	AuthUser  imapload.AuthMode = "user"
)

// Options configure a login storm. The run stops after Duration or Count
// operations, whichever comes first; with neither it runs for 10 s.
type Options struct {
	Protocol Protocol
	Target   string // host:port
	// TLS is none or implicit (TLS from the first byte: 995, 465, or a
	// ManageSieve listener with tls = "implicit").
	TLS imapload.TLSMode
	// TLSConfig is used for implicit TLS; by default the server name is
	// the target's host and certificates are verified.
	TLSConfig *tls.Config
	Auth      imapload.AuthMode
	Accounts  []imapload.Account
	SkipNoop  bool
	// Helo is the EHLO name for submission (default "bench.test").
	Helo string
	Run
}

// Run is what the options of every protoload scenario (the login storm,
// deliver, http) share: how the run is spread, bounded and watched.
type Run struct {
	// Sources spreads connections over 127.0.0.1 .. 127.0.0.<Sources>.
	Sources int
	// Timeout bounds one operation (a login, a message, a request) and
	// the connect, greeting and TLS before it (default 10 s).
	Timeout time.Duration
	// Linger is how long to wait, after QUIT or LOGOUT (or the response to
	// "Connection: close"), for the server to close first (default 1 s),
	// so TIME_WAIT stays on its side.
	Linger      time.Duration
	Concurrency int
	Duration    time.Duration
	Count       int64
	// Progress receives a line every ProgressEvery (default 5 s) when set.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Sampler, if set, observes the target process (the proxy).
	Sampler *stats.Sampler
	// Timeline, when positive, records the run in intervals of this length
	// (Result.Timeline).
	Timeline time.Duration
}

// Start checks a scenario's options with check, which returns them as
// the login storm's Options, and starts the run (Stop ends it).
func Start(ctx context.Context, check func() (*Options, error)) (*Options, *storm.Run, error) {
	lo, err := check()
	if err != nil {
		return nil, nil, err
	}
	r, err := storm.Start(ctx, lo.Target, lo.Sources, lo.Timeout, lo.Duration)
	if err != nil {
		return nil, nil, err
	}
	return lo, r, nil
}

// ParseProtocol accepts pop3, submission (or smtp) and managesieve (or
// sieve).
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "pop3":
		return POP3, nil
	case "submission", "smtp":
		return Submission, nil
	case "managesieve", "sieve":
		return ManageSieve, nil
	}
	return "", fmt.Errorf("protocol %q: want pop3, submission or managesieve", s)
}

// Check validates o and fills its defaults (the http scenario shares it).
func (o *Options) Check() error {
	if _, err := ParseProtocol(string(o.Protocol)); err != nil {
		return err
	}
	if err := imapload.CheckTarget(o.Target); err != nil {
		return err
	}
	switch o.TLS {
	case "":
		o.TLS = imapload.TLSNone
	case imapload.TLSNone, imapload.TLSImplicit:
	default:
		return fmt.Errorf("tls mode %q: want none or implicit for %s", o.TLS, o.Protocol)
	}
	switch o.Auth {
	case "":
		o.Auth = AuthPlain
	case AuthPlain:
	case AuthUser:
		if o.Protocol != POP3 {
			return fmt.Errorf("auth %q is POP3's USER/PASS; %s logs in with plain", o.Auth, o.Protocol)
		}
	default:
		if o.Protocol == POP3 {
			return fmt.Errorf("auth %q: want plain or user", o.Auth)
		}
		return fmt.Errorf("auth %q: want plain", o.Auth)
	}
	if len(o.Accounts) == 0 {
		return errors.New("no accounts")
	}
	if o.Sources < 0 || o.Sources > imapload.MaxSources {
		return fmt.Errorf("sources %d: want 0..%d", o.Sources, imapload.MaxSources)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Timeout > imapload.MaxDuration {
		o.Timeout = imapload.MaxDuration
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Concurrency > imapload.MaxConcurrency {
		return fmt.Errorf("concurrency %d: at most %d", o.Concurrency, imapload.MaxConcurrency)
	}
	o.Duration, o.Count = imapload.StormLength(o.Duration, o.Count)
	if o.Linger <= 0 {
		o.Linger = time.Second
	}
	if o.Helo == "" {
		o.Helo = "bench.test"
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	if o.TLS == imapload.TLSImplicit {
		o.TLSConfig = imapload.ClientTLS(o.TLSConfig, o.Target)
	}
	return nil
}
