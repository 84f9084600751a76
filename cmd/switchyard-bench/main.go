// Command switchyard-bench loads an IMAP server or proxy (login storms,
// masses of idle sessions) and reports throughput, latency percentiles,
// errors and the target's CPU and memory; with --mock-backend it runs
// bench/mockimap backends instead. --scenario deliver sends messages over
// SMTP or LMTP, --scenario http JMAP-like POSTs (bench/protoload). See
// bench/README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/mixload"
	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/internal/cliflags"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type flags struct {
	scenario    string
	protocol    string
	target      string
	tlsMode     string
	insecure    bool
	tlsResume   bool
	tlsMax      string
	caFile      string
	serverName  string
	auth        string
	noSASLIR    bool
	users       int
	userPrefix  string
	password    string
	usersFile   string
	concurrency int
	duration    time.Duration
	count       int64
	timeout     time.Duration
	linger      time.Duration
	noNoop      bool
	rate        float64
	sources     int
	conns       int
	hold        time.Duration
	preauth     bool
	noCheck     bool
	pid         int
	pprofURL    string
	pprofToken  string // file holding the admin token for --pprof-url
	jsonFile    string
	progress    time.Duration
	timeline    time.Duration

	messageSize       int
	recipients        int
	perConnection     int
	rcptDomain        string
	mailFrom          string
	noPipelining      bool
	bodySize          int
	httpPath          string
	httpHost          string
	accountPerRequest bool

	targetPOP3, targetSubmission, targetLMTP, targetSMTP string

	mixedUsers, mixedIdle                int
	mixedLoginRate, mixedFetchRate       float64
	mixedLMTPRate, mixedSMTPRate         float64
	mixedLoginMix                        string
	mixedLoginClients, mixedFetchClients int
	mixedDeliverConns                    int
	mixedLMTPPerConn, mixedSMTPPerConn   int

	mockBackend  []string
	mockNames    []string
	mockTLS      bool
	mockCert     string
	mockKey      string
	mockImplicit bool
	mockProxy    bool
	mockMsgSize  int
	mockCaps     string
	mockProtocol string
	mockXClient  bool
	mockKnown    bool
}

func newFlagSet(f *flags, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("switchyard-bench", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.StringVar(&f.scenario, "scenario", "login", "load scenario: login, idle, fetch (bulk FETCH 1 (BODY[]) for --duration), deliver (--protocol smtp|lmtp), http (JMAP-like POSTs on keep-alive connections, Basic auth) or mixed (all at once, --mixed-*)")
	fs.StringVar(&f.protocol, "protocol", "imap", "login: imap, pop3, submission or managesieve (--auth user is POP3's USER/PASS); deliver: smtp or lmtp")
	fs.StringVar(&f.target, "target", "127.0.0.1:1143", "IMAP server or proxy to load (host:port)")
	fs.StringVar(&f.tlsMode, "tls", "none", "none, starttls or implicit (http: implicit is https)")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the target's certificate")
	fs.StringVar(&f.tlsMax, "tls-max", "1.3", "highest TLS version the client offers: 1.2 or 1.3")
	fs.BoolVar(&f.tlsResume, "tls-resume", false, "resume TLS sessions (tickets) across connections instead of a full handshake each")
	fs.StringVar(&f.caFile, "ca", "", "PEM file of CA certificates to trust for the target")
	fs.StringVar(&f.serverName, "server-name", "", "TLS server name (default: the target's host)")
	fs.StringVar(&f.auth, "auth", "plain", "login (LOGIN command) or plain (AUTHENTICATE PLAIN)")
	fs.BoolVar(&f.noSASLIR, "no-sasl-ir", false, "AUTHENTICATE PLAIN without an initial response (waits for \"+\")")
	fs.IntVar(&f.users, "users", 1000, "accounts <user-prefix>0..N-1 (also the users of --mock-backend)")
	fs.StringVar(&f.userPrefix, "user-prefix", "user", "account name prefix")
	fs.StringVar(&f.password, "password", "password", "password of every generated account")
	fs.StringVar(&f.usersFile, "users-file", "", "read accounts from a file of \"user password\" lines instead")
	fs.IntVar(&f.concurrency, "concurrency", 32, "parallel clients (idle: sessions being opened at once)")
	fs.DurationVar(&f.duration, "duration", 0, "login, fetch: run time (default 10s, at most 1h); mock backend: exit after this (default: until SIGINT/SIGTERM)")
	fs.Int64Var(&f.count, "count", 0, "login: stop after this many logins (at most 100M)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "deadline of one operation")
	fs.DurationVar(&f.linger, "linger", time.Second, "login, deliver: after LOGOUT/QUIT, wait this long for the server to close first")
	fs.BoolVar(&f.noNoop, "no-noop", false, "login: skip the NOOP between login and logout")
	fs.Float64Var(&f.rate, "rate", 0, "login (IMAP): open loop, this many logins started per second whatever the target does, latency counted from when each was due; --concurrency bounds those in flight (0: closed loop)")
	fs.IntVar(&f.sources, "sources", 0, "spread connections over source addresses 127.0.0.1..127.0.0.X (>28k ports)")
	fs.IntVar(&f.conns, "conns", 1000, "idle: sessions to open and hold")
	fs.DurationVar(&f.hold, "hold", 10*time.Second, "idle: how long to hold the sessions (at most 1h)")
	fs.BoolVar(&f.preauth, "preauth", false, "idle: only connect and read the greeting (and STARTTLS), no login")
	fs.BoolVar(&f.noCheck, "no-check", false, "idle: do not NOOP every session after the hold")
	fs.IntVar(&f.pid, "pid", 0, "sample this process (the target) from /proc: CPU seconds, RSS, fds")
	fs.StringVar(&f.pprofURL, "pprof-url", "", "net/http/pprof base URL of the target, to count its goroutines (switchyard --pprof: https://ADMIN/debug/pprof/)")
	fs.StringVar(&f.pprofToken, "pprof-token-file", "", "file holding the bearer token for --pprof-url (switchyard's admin token)")
	fs.StringVar(&f.jsonFile, "json", "", "also write the result as JSON to this file")
	fs.DurationVar(&f.progress, "progress", 5*time.Second, "progress line interval on stderr (0: none)")
	fs.DurationVar(&f.timeline, "timeline", time.Second, "interval of the timeline in the JSON (ops, errors, p50/p99, target CPU and RSS per interval; 0: none)")
	fs.IntVar(&f.messageSize, "message-size", 1024, "deliver, mixed: bytes per message, headers and CRLFs included (256..64 MiB; mixed: default 16384)")
	fs.IntVar(&f.recipients, "recipients", 1, "deliver, mixed: recipients per message, consecutive accounts of --users/--users-file")
	fs.IntVar(&f.perConnection, "per-connection", 0, "deliver: messages per connection before QUIT and a new one; http: requests per connection, the last with \"Connection: close\" (0: one connection per client for the whole run)")
	fs.StringVar(&f.rcptDomain, "rcpt-domain", "example.org", "deliver: domain appended to account names without '@' (also --mock-known-recipients)")
	fs.StringVar(&f.mailFrom, "mail-from", "bench@bench.test", "deliver: reverse path of MAIL FROM")
	fs.BoolVar(&f.noPipelining, "no-pipelining", false, "deliver: wait for each reply instead of pipelining MAIL, RCPT and DATA")
	fs.IntVar(&f.bodySize, "body-size", 300, "http: bytes of the JSON body of each POST (a JMAP request padded to the size)")
	fs.StringVar(&f.httpPath, "http-path", "/jmap/api", "http: request path")
	fs.StringVar(&f.httpHost, "http-host", "", "http: Host header (default: the target)")
	fs.BoolVar(&f.accountPerRequest, "account-per-request", false, "http: a new account (of --users) with every request instead of one per connection")

	fs.StringVar(&f.targetPOP3, "target-pop3", "", "mixed: POP3 target (host:port; empty: no POP3 logins); --target is IMAP's (empty: no IMAP)")
	fs.StringVar(&f.targetSubmission, "target-submission", "", "mixed: submission target (empty: no submission logins)")
	fs.StringVar(&f.targetLMTP, "target-lmtp", "", "mixed: LMTP target (empty: no LMTP deliveries)")
	fs.StringVar(&f.targetSMTP, "target-smtp", "", "mixed: port-25 SMTP target (empty: no SMTP deliveries)")
	fs.IntVar(&f.mixedUsers, "mixed-users", mixload.DefaultUsers, "mixed: population the defaults below derive from (per 1000 users: 700 idle, 3 logins/s, 8 fetches/s, 5 LMTP and 5 SMTP messages/s)")
	fs.IntVar(&f.mixedIdle, "mixed-idle", -1, "mixed: IMAP sessions held in IDLE (-1: 70% of --mixed-users), opened --concurrency at a time")
	fs.Float64Var(&f.mixedLoginRate, "mixed-login-rate", -1, "mixed: logins per second, IMAP + POP3 + submission (-1: 3 per 1000 users)")
	fs.StringVar(&f.mixedLoginMix, "mixed-login-mix", "4:1:1", "mixed: weights of IMAP:POP3:submission logins")
	fs.IntVar(&f.mixedLoginClients, "mixed-login-clients", mixload.DefaultLoginClients, "mixed: logins in flight at most, per protocol")
	fs.Float64Var(&f.mixedFetchRate, "mixed-fetch-rate", -1, "mixed: FETCH 1 (BODY[]) per second (-1: 8 per 1000 users)")
	fs.IntVar(&f.mixedFetchClients, "mixed-fetch-clients", mixload.DefaultFetchClients, "mixed: logged-in sessions the fetches go over")
	fs.Float64Var(&f.mixedLMTPRate, "mixed-lmtp-rate", -1, "mixed: LMTP messages per second (-1: 5 per 1000 users)")
	fs.Float64Var(&f.mixedSMTPRate, "mixed-smtp-rate", -1, "mixed: SMTP messages per second (-1: 5 per 1000 users)")
	fs.IntVar(&f.mixedDeliverConns, "mixed-deliver-clients", mixload.DefaultDeliverConns, "mixed: delivery clients per protocol")
	fs.IntVar(&f.mixedLMTPPerConn, "mixed-lmtp-per-connection", -1, "mixed: LMTP messages per connection (-1: 0, connections kept)")
	fs.IntVar(&f.mixedSMTPPerConn, "mixed-smtp-per-connection", -1, "mixed: SMTP messages per connection (-1: 1, a connection per message)")

	fs.StringSliceVar(&f.mockBackend, "mock-backend", nil, "run mockimap backends on ADDR[,ADDR...] instead of a load")
	fs.StringSliceVar(&f.mockNames, "mock-names", []string{"old", "new"}, "names of the mock backends, in order (more get mock<i>)")
	fs.BoolVar(&f.mockTLS, "mock-tls", false, "offer STARTTLS with a throw-away self-signed certificate")
	fs.StringVar(&f.mockCert, "mock-cert", "", "mock backends' certificate (PEM; with --mock-key) instead of a self-signed one")
	fs.StringVar(&f.mockKey, "mock-key", "", "mock backends' private key (PEM)")
	fs.BoolVar(&f.mockImplicit, "mock-implicit-tls", false, "mock backends use TLS from the first byte")
	fs.BoolVar(&f.mockProxy, "mock-proxy-header", false, "mock backends accept an optional PROXY v1/v2 header")
	fs.IntVar(&f.mockMsgSize, "mock-message-size", 0, "size of the marker message in bytes (bulk FETCH)")
	fs.StringVar(&f.mockCaps, "mock-capabilities", "", "space-separated capability list replacing the default")
	fs.StringVar(&f.mockProtocol, "mock-protocol", "imap", "protocol of the mock backends: imap, pop3, submission, managesieve, smtp/lmtp (delivery: no AUTH), http (bench/mockhttp: JSON answers, Basic auth of the accounts; --mock-tls: https), or imap-gnet / imap-gnet-enroll (bench/gnetmock: a bare gnet IMAP responder taking any login, gnet accepting or Go accepting and gnet's Register taking over)")
	fs.BoolVar(&f.mockXClient, "mock-xclient", false, "pop3, submission, managesieve, smtp, lmtp mocks: advertise and honour XCLIENT")
	fs.BoolVar(&f.mockKnown, "mock-known-recipients", false, "smtp, lmtp mocks: accept only the accounts as recipients (550 5.1.1 for others)")
	return fs
}

// maxRate bounds --rate: more logins per second than one machine's
// loopback could carry is a typing mistake.
const maxRate = 1_000_000

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f flags
	fs := newFlagSet(&f, stderr)
	if code := cliflags.Parse(fs, args, stderr, 2); code >= 0 {
		return code
	}
	if f.rate != 0 && (f.scenario != "login" || f.protocol != "imap" || len(f.mockBackend) > 0 || !(f.rate > 0 && f.rate <= maxRate)) {
		fmt.Fprintf(stderr, "switchyard-bench: --rate %g: an open-loop rate above 0 and at most %g logins/s, for --scenario login with --protocol imap\n", f.rate, float64(maxRate))
		return 2
	}
	accounts, err := loadAccounts(&f)
	if err != nil {
		fmt.Fprintln(stderr, "switchyard-bench:", err)
		return 2
	}
	if err := dispatch(ctx, &f, fs.Changed("message-size"), accounts, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "switchyard-bench:", err)
		return 1
	}
	return 0
}

// dispatch runs what the flags ask for: a mock backend mode (by
// --mock-protocol) or a load (by --scenario and --protocol). sizeSet tells
// whether --message-size was given.
func dispatch(ctx context.Context, f *flags, sizeSet bool, accounts []imapload.Account, stdout, stderr io.Writer) error {
	if len(f.mockBackend) > 0 {
		switch f.mockProtocol {
		case "smtp", "lmtp":
			return runDeliverMock(ctx, f, accounts, stdout)
		case "http":
			return runHTTPMock(ctx, f, accounts, stdout)
		case "imap":
			return runMock(ctx, f, accounts, stdout)
		case "imap-gnet", "imap-gnet-enroll":
			return runGnetMock(ctx, f, stdout)
		}
		return runProtoMock(ctx, f, accounts, stdout)
	}
	switch {
	case f.scenario == "mixed":
		return runMixed(ctx, f, sizeSet, accounts, stdout, stderr)
	case f.scenario == "deliver":
		return runDeliver(ctx, f, accounts, stdout, stderr)
	case f.scenario == "http":
		return runHTTP(ctx, f, accounts, stdout, stderr)
	case f.protocol != "imap":
		return runProtoLoad(ctx, f, accounts, stdout, stderr)
	}
	return runLoad(ctx, f, accounts, stdout, stderr)
}

func loadAccounts(f *flags) ([]imapload.Account, error) {
	if f.usersFile != "" {
		return imapload.ReadAccountsFile(f.usersFile)
	}
	if f.users <= 0 || f.users > imapload.MaxAccounts {
		return nil, fmt.Errorf("--users %d: want 1..%d", f.users, imapload.MaxAccounts)
	}
	return imapload.Accounts(f.userPrefix, f.users, f.password), nil
}

func runLoad(ctx context.Context, f *flags, accounts []imapload.Account, stdout, stderr io.Writer) error {
	o := imapload.Options{
		Target:      f.target,
		TLS:         imapload.TLSMode(f.tlsMode),
		Auth:        imapload.AuthMode(f.auth),
		NoSASLIR:    f.noSASLIR,
		Accounts:    accounts,
		Sources:     f.sources,
		Timeout:     f.timeout,
		Concurrency: f.concurrency,
		Timeline:    f.timeline,
	}
	c, err := client(f, stderr, true)
	if err != nil {
		return err
	}
	o.Progress, o.ProgressEvery, o.Sampler, o.TLSConfig = c.Progress, c.ProgressEvery, c.Sampler, c.TLSConfig
	if f.scenario == "fetch" {
		return runFetch(ctx, f, o, stdout)
	}
	var res *imapload.Result
	switch f.scenario {
	case "login":
		res, err = imapload.RunLogin(ctx, imapload.LoginOptions{Options: o, Duration: f.duration, Count: f.count, Rate: f.rate, SkipNoop: f.noNoop, Linger: f.linger})
	case "idle":
		res, err = imapload.RunIdle(ctx, imapload.IdleOptions{Options: o, Conns: f.conns, Hold: f.hold, Preauth: f.preauth, SkipCheck: f.noCheck})
	default:
		return fmt.Errorf("--scenario %q: want login, idle, fetch, deliver, http or mixed", f.scenario)
	}
	return reportRun(f, stdout, res, err)
}

// runFetch runs the bulk-transfer scenario: MB/s, fetches/s, latency per
// fetch and, with --pid, the target's CPU-s per GB.
func runFetch(ctx context.Context, f *flags, o imapload.Options, stdout io.Writer) error {
	res, err := imapload.RunFetch(ctx, imapload.FetchOptions{Options: o, Duration: f.duration})
	return reportRun(f, stdout, res, err)
}

func runMock(ctx context.Context, f *flags, accounts []imapload.Account, stdout io.Writer) error {
	users := imapload.Passwords(accounts)
	cfg := mockimap.Config{
		Users:             users,
		ImplicitTLS:       f.mockImplicit,
		AcceptProxyHeader: f.mockProxy,
		MessageSize:       f.mockMsgSize,
		Capabilities:      strings.Fields(f.mockCaps),
	}
	var err error
	if cfg.TLS, err = mockTLSConfig(f, f.mockTLS || f.mockImplicit); err != nil {
		return err
	}
	return serveMocks(ctx, f, "mock backend", func(name, addr string) (*mockimap.Server, error) {
		c := cfg
		c.Name = name
		s, err := mockimap.Listen(addr, c)
		if err == nil {
			fmt.Fprintf(stdout, "mockimap %s listening on %s (%d users)\n", c.Name, s.Addr(), len(users))
		}
		return s, err
	}, func(_ string, s *mockimap.Server) {
		fmt.Fprintf(stdout, "mockimap %s: %d logins, %d refused, %d sessions open at exit\n", s.Name(), s.Logins(), s.FailedLogins(), s.Sessions())
	})
}
