// Package mixload runs the mixed scenario: in one process and one run, a
// population of authenticated IMAP sessions in IDLE, a login storm
// (IMAP, POP3 and submission logins at a rate), FETCH of small messages on
// a few sessions and SMTP/LMTP deliveries, all against one proxy (or
// directly against the backends), in the ratio a mail service sees per
// thousand users. Operations arrive open loop (Poisson arrivals at the
// asked rate, a bounded pool of clients per component), so a slow target
// shows as latency and shed operations, not as a lower offered load. Each
// component is measured apart (bench/stats); see bench/README.md.
package mixload

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// The default mix, per 1,000 users at a busy hour (bench/README.md says
// why): 700 IMAP sessions in IDLE; 3 logins/s split 4:1:1 between IMAP,
// POP3 and submission; 8 FETCH/s; 5 LMTP deliveries/s into mailboxes and
// 5 port-25 SMTP messages/s, one connection each.
const (
	IdlePer1000         = 700
	LoginsPer1000       = 3.0
	FetchesPer1000      = 8.0
	LMTPPer1000         = 5.0
	SMTPPer1000         = 5.0
	DefaultUsers        = 5000
	DefaultMessageSize  = 16 << 10
	DefaultFetchClients = 4
	DefaultDeliverConns = 4
	DefaultLoginClients = 32
)

// Bounds of one run.
const (
	MaxUsers       = 10_000_000
	MaxIdle        = 100_000
	MaxRate        = 100_000 // operations per second, per component
	MaxClients     = 10_000  // per component
	MaxConcurrency = 10_000  // idle sessions opened at once
)

// Options configure a mixed run. Rates are operations per second; a
// negative rate or count takes its default from Users and the per-1000
// figures above, 0 leaves the component out, as does an empty target.
type Options struct {
	// Targets (host:port), all plaintext.
	IMAP, POP3, Submission, LMTP, SMTP string
	// Accounts log in (IMAP, POP3, submission; idle session i uses
	// account i modulo the list) and receive (user@Domain, as the deliver
	// scenario makes them).
	Accounts []imapload.Account
	Domain   string // default "example.org"
	// Users is the population the defaults are derived from (default
	// 5000).
	Users int
	// Idle is the number of IMAP sessions logged in, in INBOX, in IDLE
	// for the whole run; IdleConcurrency of them are opened at once
	// (default 100) before the measured phase.
	Idle            int
	IdleConcurrency int
	// LoginRate is the total of IMAP, POP3 and submission logins, split
	// by LoginMix (weights; default 4:1:1); LoginClients bounds the
	// operations in flight per protocol (default 32).
	LoginRate    float64
	LoginMix     [3]float64
	LoginClients int
	// FetchRate FETCH 1 (BODY[]) per second over FetchClients logged-in
	// sessions that selected INBOX (default 4).
	FetchRate    float64
	FetchClients int
	// LMTPRate and SMTPRate deliveries per second over DeliverConns
	// clients each (default 4). Messages per connection: a negative value
	// takes the default, LMTP 0 (a client keeps its connection, as an MTA's
	// connection cache does), SMTP 1 (a connection per message, as most
	// senders on the internet do). Messages are
	// MessageSize bytes (default 16 KiB) to Recipients recipients
	// (default 1).
	LMTPRate, SMTPRate                   float64
	DeliverConns                         int
	LMTPPerConnection, SMTPPerConnection int
	MessageSize, Recipients              int
	// Duration of the measured phase (default 10 s, at most an hour),
	// after the idle sessions are open.
	Duration time.Duration
	Timeout  time.Duration // one operation (default 10 s)
	Linger   time.Duration // wait for the server to close after LOGOUT/QUIT (default 1 s)
	Sources  int           // source addresses 127.0.0.1..127.0.0.<Sources>
	// Timeline, when positive, records the measured phase in intervals of
	// this length, in total and per component.
	Timeline time.Duration
	// Sampler, if set, observes the target process.
	Sampler *stats.Sampler
	// Progress receives a line every ProgressEvery (default 5 s) when set.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Seed of the arrival times (0: from the clock).
	Seed uint64
}

func per1000(users int, x float64) float64 { return x * float64(users) / 1000 }

// check fills in the defaults and refuses what is out of bounds.
func (o *Options) check() error {
	if o.Users == 0 {
		o.Users = DefaultUsers
	}
	if o.Users < 1 || o.Users > MaxUsers {
		return fmt.Errorf("users %d: want 1..%d", o.Users, MaxUsers)
	}
	if len(o.Accounts) == 0 {
		return errors.New("no accounts")
	}
	if o.Domain == "" {
		o.Domain = "example.org"
	}
	for _, t := range []string{o.IMAP, o.POP3, o.Submission, o.LMTP, o.SMTP} {
		if t == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(t); err != nil {
			return fmt.Errorf("target %q: %v", t, err)
		}
	}
	if o.Idle < 0 {
		o.Idle = int(math.Round(per1000(o.Users, IdlePer1000)))
	}
	if o.Idle > MaxIdle {
		return fmt.Errorf("idle %d: at most %d", o.Idle, MaxIdle)
	}
	if o.IdleConcurrency <= 0 {
		o.IdleConcurrency = 100
	}
	if o.IdleConcurrency > MaxConcurrency {
		return fmt.Errorf("idle concurrency %d: at most %d", o.IdleConcurrency, MaxConcurrency)
	}
	rate := func(name string, r *float64, def float64) error {
		if *r < 0 {
			*r = def
		}
		if math.IsNaN(*r) || *r > MaxRate {
			return fmt.Errorf("%s rate %v: want 0..%d per second", name, *r, MaxRate)
		}
		return nil
	}
	for _, x := range []struct {
		name string
		r    *float64
		def  float64
	}{
		{"login", &o.LoginRate, per1000(o.Users, LoginsPer1000)},
		{"fetch", &o.FetchRate, per1000(o.Users, FetchesPer1000)},
		{"lmtp", &o.LMTPRate, per1000(o.Users, LMTPPer1000)},
		{"smtp", &o.SMTPRate, per1000(o.Users, SMTPPer1000)},
	} {
		if err := rate(x.name, x.r, x.def); err != nil {
			return err
		}
	}
	if o.LoginMix == [3]float64{} {
		o.LoginMix = [3]float64{4, 1, 1}
	}
	for _, w := range o.LoginMix {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("login mix %v: want weights >= 0", o.LoginMix)
		}
	}
	clients := func(name string, n *int, def int) error {
		if *n <= 0 {
			*n = def
		}
		if *n > MaxClients {
			return fmt.Errorf("%s clients %d: at most %d", name, *n, MaxClients)
		}
		return nil
	}
	if err := clients("login", &o.LoginClients, DefaultLoginClients); err != nil {
		return err
	}
	if err := clients("fetch", &o.FetchClients, DefaultFetchClients); err != nil {
		return err
	}
	if err := clients("deliver", &o.DeliverConns, DefaultDeliverConns); err != nil {
		return err
	}
	if o.LMTPPerConnection < 0 {
		o.LMTPPerConnection = 0
	}
	if o.SMTPPerConnection < 0 {
		o.SMTPPerConnection = 1
	}
	if o.MessageSize == 0 {
		o.MessageSize = DefaultMessageSize
	}
	if o.Recipients == 0 {
		o.Recipients = 1
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Duration > imapload.MaxDuration {
		o.Duration = imapload.MaxDuration
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Timeout > imapload.MaxDuration {
		o.Timeout = imapload.MaxDuration
	}
	if o.Linger <= 0 {
		o.Linger = time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	return nil
}
