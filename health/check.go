package health

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/imap"
	"github.com/switchyard-mail/switchyard/protocols/managesieve"
	"github.com/switchyard-mail/switchyard/protocols/pop3"
	"github.com/switchyard-mail/switchyard/protocols/smtp"
)

// Target is one destination × protocol to check actively.
type Target struct {
	Dest, Proto string
	Addr        string      // host:port
	TLS         *tls.Config // implicit TLS (imaps, pop3s, smtps); nil for plaintext
	// ProxyHeader sends a PROXY protocol v2 LOCAL header first, for
	// backends that refuse connections without one (the health-check form
	// of the header: no addresses).
	ProxyHeader bool
}

// Greeting outcomes of ParseGreeting.
var (
	ErrNeedMore    = errors.New("health: greeting incomplete")
	ErrBadGreeting = errors.New("health: unexpected greeting")
)

// MaxGreeting bounds what a check reads (ManageSieve sends its
// capabilities before the OK line).
const MaxGreeting = limits.MaxGreeting

// ParseGreeting judges what a backend sent on connect: nil when it is a
// ready greeting for proto, as the protocol package judges it ("* OK" for
// imap, "+OK" for pop3, "220" for smtp, submission and lmtp, a final "OK"
// after capability lines for managesieve; for another protocol any of
// these), ErrNeedMore when no complete line decides yet, ErrBadGreeting
// otherwise. http needs no greeting.
func ParseGreeting(proto string, data []byte) error {
	proto = strings.ToLower(proto)
	judge := greetingJudge(proto)
	if judge == nil {
		return nil
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimRight(data[:i], "\r")
		data = data[i+1:]
		if ready, final := judge(line); final {
			return verdict(ready)
		}
	}
	return ErrNeedMore
}

// greetingJudge returns the protocol package's judge of a greeting line
// for proto, or nil for a protocol that sends no greeting.
func greetingJudge(proto string) func(line []byte) (ready, final bool) {
	switch proto {
	case "http", "https", "jmap", "webdav", "websocket":
		return nil
	case "imap", "imaps":
		return imap.GreetingReady
	case "pop3", "pop3s":
		return pop3.GreetingReady
	case "smtp", "smtps", "submission", "submissions", "lmtp":
		return smtp.GreetingReady
	case "managesieve", "sieve":
		return managesieve.GreetingReady
	}
	return anyGreeting
}

// anyGreeting takes any of the mail protocols' ready greetings, skipping
// ManageSieve capability lines, for a protocol the checker does not know.
func anyGreeting(line []byte) (ready, final bool) {
	if _, final := managesieve.GreetingReady(line); !final {
		return false, false
	}
	for _, judge := range []func([]byte) (bool, bool){imap.GreetingReady, pop3.GreetingReady, smtp.GreetingReady, managesieve.GreetingReady} {
		if ready, _ := judge(line); ready {
			return true, true
		}
	}
	return false, true
}

func verdict(ok bool) error {
	if ok {
		return nil
	}
	return ErrBadGreeting
}

// CheckOnce dials t, reads its greeting and judges it, within timeout.
func CheckOnce(ctx context.Context, t Target, timeout time.Duration) error {
	var d net.Dialer
	return checkWith(ctx, t, timeout, d.DialContext)
}

func checkWith(ctx context.Context, t Target, timeout time.Duration, dial func(context.Context, string, string) (net.Conn, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, raw, err := open(ctx, t, dial)
	if err != nil {
		return err
	}
	defer raw.Close()
	if ParseGreeting(t.Proto, nil) == nil {
		return nil // connect is the check
	}
	br := bufio.NewReaderSize(c, 512)
	var got []byte
	for len(got) < MaxGreeting {
		line, err := br.ReadSlice('\n')
		got = append(got, line...)
		if err == nil || errors.Is(err, bufio.ErrBufferFull) {
			if perr := ParseGreeting(t.Proto, got); !errors.Is(perr, ErrNeedMore) {
				return annotate(perr, got)
			}
			continue
		}
		return fmt.Errorf("reading greeting: %w", err)
	}
	return fmt.Errorf("%w: no greeting within %d bytes", ErrBadGreeting, MaxGreeting)
}

// open dials t and readies the connection for its greeting: the deadline
// of ctx, the PROXY LOCAL header when t wants one, the handshake for
// implicit TLS. raw is the socket, which is what the caller closes (no TLS
// close_notify is sent).
func open(ctx context.Context, t Target, dial func(context.Context, string, string) (net.Conn, error)) (c, raw net.Conn, err error) {
	raw, err = dial(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	if t.ProxyHeader {
		if _, err := raw.Write(forward.ProxyV2Local()); err != nil {
			raw.Close()
			return nil, nil, err
		}
	}
	if t.TLS == nil {
		return raw, raw, nil
	}
	tc := tls.Client(raw, t.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, nil, err
	}
	return tc, raw, nil
}

func annotate(err error, got []byte) error {
	if err == nil {
		return nil
	}
	if len(got) > 80 {
		got = got[:80]
	}
	return fmt.Errorf("%w: %q", err, got)
}

// CheckerOptions configures active checks.
type CheckerOptions struct {
	Interval time.Duration // between rounds (default 10s, server.health_check_interval)
	Timeout  time.Duration // per check (default 10s, server.backend_timeout)
	// Dial, when set, opens the checks' connections (the proxy counts
	// them in its descriptor budget); the default is a plain net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Checker runs active checks and feeds their outcomes to a Registry: a
// success closes the circuit, a failure counts like a connection failure.
// SetTargets replaces what it checks (a configuration reload).
type Checker struct {
	reg *Registry
	opt CheckerOptions

	mu      sync.Mutex
	targets []Target
	gen     uint64 // bumped by SetTargets
	results map[key]CheckResult
}

// CheckResult is the outcome of a target's last active check.
type CheckResult struct {
	Dest, Proto string
	At          time.Time
	Latency     time.Duration
	Err         string // "" when the check passed
}

// Results returns the last outcome of every target checked since its
// destination was last set (in no particular order).
func (c *Checker) Results() []CheckResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CheckResult, 0, len(c.results))
	for _, r := range c.results {
		out = append(out, r)
	}
	return out
}

// NewChecker returns a checker of targets feeding reg.
func NewChecker(reg *Registry, targets []Target, opt CheckerOptions) *Checker {
	opt.Interval = limits.Or(opt.Interval, limits.HealthCheckInterval)
	opt.Timeout = limits.Or(opt.Timeout, limits.BackendTimeout)
	return &Checker{reg: reg, targets: append([]Target(nil), targets...), opt: opt}
}

// SetTargets makes the next round check targets instead. Outcomes of a
// round in flight that started before are dropped: they describe
// addresses that may no longer be the destination's.
func (c *Checker) SetTargets(targets []Target) {
	c.mu.Lock()
	c.targets = append([]Target(nil), targets...)
	c.gen++
	c.results = nil // they describe the old addresses
	c.mu.Unlock()
}

// Targets returns what the next round checks.
func (c *Checker) Targets() []Target {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Target(nil), c.targets...)
}

// Round checks every target once, concurrently, and records the outcomes.
func (c *Checker) Round(ctx context.Context) {
	c.mu.Lock()
	targets, gen := c.targets, c.gen
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dial := c.opt.Dial
			if dial == nil {
				var d net.Dialer
				dial = d.DialContext
			}
			start := time.Now()
			err := checkWith(ctx, t, c.opt.Timeout, dial)
			if ctx.Err() != nil {
				return // shutting down: not the backend's fault
			}
			res := CheckResult{Dest: t.Dest, Proto: t.Proto, At: start, Latency: time.Since(start)}
			if err != nil {
				res.Err = err.Error()
			}
			c.mu.Lock()
			stale := gen != c.gen
			if !stale {
				if c.results == nil {
					c.results = map[key]CheckResult{}
				}
				c.results[key{t.Dest, t.Proto}] = res
			}
			c.mu.Unlock()
			if stale {
				return
			}
			if err != nil {
				c.reg.fail(t.Dest, t.Proto, err.Error(), "")
			} else {
				c.reg.Success(t.Dest, t.Proto)
			}
		}()
	}
	wg.Wait()
}

// Run checks every Interval until ctx ends (the first round at once).
func (c *Checker) Run(ctx context.Context) {
	tk := time.NewTicker(c.opt.Interval)
	defer tk.Stop()
	for {
		c.Round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}
