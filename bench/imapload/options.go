// Package imapload generates IMAP load: login storms and masses of idle
// sessions, measured with bench/stats. The cmd/switchyard-bench command
// wires it to flags; tests drive it against bench/mockimap.
package imapload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapclient"
	"github.com/switchyard-mail/switchyard/bench/internal/sources"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// TLSMode says how a session is protected.
type TLSMode string

// AuthMode says how a session logs in.
type AuthMode string

const (
	TLSNone     TLSMode = "none"
	TLSStartTLS TLSMode = "starttls"
	TLSImplicit TLSMode = "implicit"

	AuthLogin AuthMode = "login" // LOGIN user pass
	AuthPlain AuthMode = "plain" // AUTHENTICATE PLAIN (SASL-IR unless NoSASLIR)
)

// Caps on what one run may ask for.
const (
	MaxDuration    = time.Hour
	MaxCount       = 100_000_000
	MaxConns       = 1_000_000
	MaxConcurrency = 100_000
	MaxSources     = 254
)

// Account is one login.
type Account struct{ User, Password string }

// Accounts returns prefix0..prefix{n-1}, all with the same password.
func Accounts(prefix string, n int, password string) []Account {
	out := make([]Account, n)
	for i := range out {
		out[i] = Account{fmt.Sprintf("%s%d", prefix, i), password}
	}
	return out
}

// Passwords maps the accounts' names to their passwords (the Users of a
// mock backend).
func Passwords(accounts []Account) map[string]string {
	m := make(map[string]string, len(accounts))
	for _, a := range accounts {
		m[a.User] = a.Password
	}
	return m
}

// CheckTarget checks that target is a host:port.
func CheckTarget(target string) error {
	if target == "" {
		return errors.New("no target")
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return fmt.Errorf("target %q: %v", target, err)
	}
	return nil
}

// Options are common to all scenarios.
type Options struct {
	Target string // host:port
	TLS    TLSMode
	// TLSConfig is used for STARTTLS and implicit TLS; by default the
	// server name is the target's host and certificates are verified.
	TLSConfig *tls.Config
	Auth      AuthMode
	NoSASLIR  bool // AUTHENTICATE PLAIN waits for "+" instead of sending an initial response
	Accounts  []Account
	// Sources spreads connections over the source addresses 127.0.0.1 ..
	// 127.0.0.<Sources> (IPv4 targets only); 0 or 1 lets the system choose.
	Sources     int
	Timeout     time.Duration // per operation (default 10 s)
	Concurrency int
	// Progress receives a line every ProgressEvery (default 5 s) when set.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Sampler, if set, observes the target process (the proxy).
	Sampler *stats.Sampler
	// Timeline, when positive, records the run in intervals of this length
	// (Result.Timeline: operations, errors, p50/p99, the target's CPU and
	// RSS per interval).
	Timeline time.Duration
}

func (o *Options) check() error {
	if err := CheckTarget(o.Target); err != nil {
		return err
	}
	switch o.TLS {
	case "":
		o.TLS = TLSNone
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return fmt.Errorf("tls mode %q: want none, starttls or implicit", o.TLS)
	}
	switch o.Auth {
	case "":
		o.Auth = AuthPlain
	case AuthLogin, AuthPlain:
	default:
		return fmt.Errorf("auth %q: want login or plain", o.Auth)
	}
	if len(o.Accounts) == 0 {
		return errors.New("no accounts")
	}
	if o.Sources < 0 || o.Sources > MaxSources {
		return fmt.Errorf("sources %d: want 0..%d", o.Sources, MaxSources)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Timeout > MaxDuration {
		o.Timeout = MaxDuration
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Concurrency > MaxConcurrency {
		return fmt.Errorf("concurrency %d: at most %d", o.Concurrency, MaxConcurrency)
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	if o.TLS != TLSNone {
		o.TLSConfig = ClientTLS(o.TLSConfig, o.Target)
	}
	return nil
}

// dialer checks o and makes the dialer of its target and sources: the
// start of every scenario that dials for itself (the login storm's
// dialer is bench/internal/storm's).
func (o *Options) dialer() (*sources.Dialer, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return sources.NewDialer(o.Target, o.Sources, o.Timeout)
}

// ClientTLS is a copy of cfg (an empty one when nil) whose ServerName, if
// unset, is target's host.
func ClientTLS(cfg *tls.Config, target string) *tls.Config {
	c := &tls.Config{}
	if cfg != nil {
		c = cfg.Clone()
	}
	if c.ServerName == "" {
		host, _, _ := net.SplitHostPort(target)
		c.ServerName = host
	}
	return c
}

// StormLength bounds a login storm that stops after d or n operations,
// whichever comes first: 10 s when neither is set, d at most MaxDuration
// (MaxDuration when only n is set), n at most MaxCount.
func StormLength(d time.Duration, n int64) (time.Duration, int64) {
	if d <= 0 && n <= 0 {
		d = 10 * time.Second
	}
	if d > MaxDuration {
		d = MaxDuration
	}
	if n > MaxCount {
		n = MaxCount
	}
	if d <= 0 {
		d = MaxDuration
	}
	return d, n
}

// Phases holds one histogram per step of a login session (the login
// storms of imapload and protoload): Total is the whole operation.
type Phases struct {
	Connect, TLS, Auth, Noop, Logout, Total stats.Histogram
}

// Summaries summarises the steps: connect, tls (unless mode is
// TLSNone), auth (unless preauth), noop and logout (when any was
// recorded).
func (p *Phases) Summaries(mode TLSMode, preauth bool) map[string]stats.Summary {
	m := map[string]stats.Summary{"connect": p.Connect.Summarize()}
	if mode != TLSNone {
		m["tls"] = p.TLS.Summarize()
	}
	if !preauth {
		m["auth"] = p.Auth.Summarize()
	}
	if p.Noop.Count() > 0 {
		m["noop"] = p.Noop.Summarize()
	}
	if p.Logout.Count() > 0 {
		m["logout"] = p.Logout.Summarize()
	}
	return m
}

// opError is a failure and the step it happened in.
type opError struct {
	phase string
	err   error
}

func (e *opError) Error() string { return e.phase + ": " + e.err.Error() }

// kind groups failures for the report: "auth: NO [AUTHENTICATIONFAILED]",
// "connect: refused", ...
func (e *opError) kind() string {
	var se *imapclient.StatusError
	if errors.As(e.err, &se) {
		k := e.phase + ": " + se.Status
		if strings.HasPrefix(se.Text, "[") {
			if end := strings.IndexByte(se.Text, ']'); end > 0 && end < 40 {
				k += " " + se.Text[:end+1]
			}
		}
		return k
	}
	if errors.Is(e.err, imapclient.ErrBye) {
		return e.phase + ": bye"
	}
	return e.phase + ": " + stats.Classify(e.err)
}

func fail(phase string, err error) *opError { return &opError{phase, err} }

// open connects, reads the greeting, starts TLS and (unless preauth) logs
// in. The connection's deadline is start+Timeout.
func open(ctx context.Context, o *Options, d *sources.Dialer, acct Account, ph *Phases, preauth bool, rsize, wsize int) (*imapclient.Client, *opError) {
	t0 := time.Now()
	conn, err := d.Dial(ctx)
	if err != nil {
		return nil, fail("connect", err)
	}
	conn.SetDeadline(t0.Add(o.Timeout))
	if o.TLS == TLSImplicit {
		th := time.Now()
		tc := tls.Client(conn, o.TLSConfig)
		if err := tc.Handshake(); err != nil {
			conn.Close()
			return nil, fail("tls", err)
		}
		ph.TLS.RecordDuration(time.Since(th))
		conn = tc
	}
	c := imapclient.NewSize(conn, rsize, wsize)
	if _, err := c.Greeting(); err != nil {
		conn.Close()
		return nil, fail("greeting", err)
	}
	ph.Connect.RecordDuration(time.Since(t0))
	if o.TLS == TLSStartTLS {
		th := time.Now()
		if err := c.StartTLS(o.TLSConfig); err != nil {
			c.Close()
			return nil, fail("starttls", err)
		}
		ph.TLS.RecordDuration(time.Since(th))
	}
	if preauth {
		return c, nil
	}
	ta := time.Now()
	if o.Auth == AuthLogin {
		err = c.Login(acct.User, acct.Password)
	} else {
		err = c.AuthPlain(acct.User, acct.Password, !o.NoSASLIR)
	}
	if err != nil {
		c.Close()
		return nil, fail("auth", err)
	}
	ph.Auth.RecordDuration(time.Since(ta))
	return c, nil
}
