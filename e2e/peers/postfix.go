//go:build linux

package peers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
)

// PostfixRole is what a test Postfix is for.
type PostfixRole int

const (
	// PostfixSubmission (the default): a submission service that
	// authenticates through Dovecot (AuthSocket) and discards what it
	// accepts.
	PostfixSubmission PostfixRole = iota
	// PostfixMX: an inbound MX for the domain "test". Its smtpd accepts
	// mail for the Mailboxes (anything else in "test" gets Postfix's
	// "550 5.1.1 ... User unknown in virtual mailbox table") from anyone,
	// and delivers it over LMTP to LMTPAddr (a Dovecot's LMTP listener).
	PostfixMX
	// PostfixSender: an MTA that relays everything clients on 127.0.0.0/8
	// give it for "test" to RelayHost, retrying deferred recipients within
	// seconds.
	PostfixSender
)

// PostfixOptions selects what a test Postfix offers.
type PostfixOptions struct {
	// Role selects the kind of service (default PostfixSubmission).
	Role PostfixRole
	// AuthSocket is the path of a Dovecot auth listener (see
	// DovecotAuthListener) used for smtpd_sasl_type = dovecot. Required
	// for PostfixSubmission, unused otherwise.
	AuthSocket string
	// ProxyProtocol makes the smtpd listener require a PROXY header
	// (smtpd_upstream_proxy_protocol = haproxy, v1 and v2).
	ProxyProtocol bool
	// TLS offers STARTTLS (smtpd_tls_security_level = may) with a
	// generated certificate.
	TLS bool
	// LMTPAddr (PostfixMX, required) is where accepted mail is delivered:
	// virtual_transport = lmtp:inet:LMTPAddr.
	LMTPAddr string
	// Mailboxes (PostfixMX) lists the addresses that exist
	// (virtual_mailbox_maps); nil means DefaultUsers.
	Mailboxes []string
	// RelayHost (PostfixSender, required) is the host:port every message
	// is relayed to (relayhost = [host]:port).
	RelayHost string
	// Extra lines are appended to main.cf.
	Extra string
}

// Postfix is a standalone Postfix started by a test: its own config,
// queue and data directories, one smtpd listener on a loopback high port,
// XCLIENT allowed from 127.0.0.0/8, and a log file of its own
// (maillog_file). What it does with mail depends on its Role: a
// submission service (SASL through Dovecot, mail to anyone accepted and
// discarded), an MX delivering to Dovecot over LMTP, or a sender relaying
// through a relayhost.
type Postfix struct {
	Name string
	Role PostfixRole
	Dir  string // config_directory
	// LogPath is maillog_file.
	LogPath string
	// SubmissionAddr is the smtpd listener, whatever the role; SMTPAddr is
	// the same address, under the name that reads better for an MX or a
	// sender.
	SubmissionAddr string
	SMTPAddr       string
	Cert           *harness.Cert // when Options.TLS
	Proc           *harness.Process
}

// PostfixSocketDir makes the directory a Postfix for name will use and
// returns it, so that a Dovecot auth listener can be put there first
// (Postfix's smtpd runs as "postfix" and must reach the socket).
func PostfixSocketDir(t testing.TB, name string) string {
	t.Helper()
	return harness.ShortTempDir(t, "pf-"+name)
}

// DovecotAuthListener is DovecotOptions.Extra for auth listeners at paths
// that Postfix can use (smtpd_sasl_type = dovecot).
func DovecotAuthListener(paths ...string) string {
	var b strings.Builder
	b.WriteString("service auth {\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "  unix_listener %s {\n    mode = 0666\n  }\n", p)
	}
	b.WriteString("}\n")
	return b.String()
}

// StartPostfix writes main.cf and master.cf into dir (from
// PostfixSocketDir), runs `postfix -c dir post-install create-missing`
// (which creates the queue: what `postfix check` does first, without its
// slow permission sweep)
// and starts Postfix's master in the foreground (`master -s -c dir`, so
// that the test's Process is the master itself and stopping it stops
// Postfix). It is stopped when the test ends.
func StartPostfix(t testing.TB, name, dir string, opts PostfixOptions) *Postfix {
	t.Helper()
	postfix := harness.RequireBinary(t, "postfix")
	master := "/usr/lib/postfix/sbin/master"
	if out, err := exec.Command("postconf", "-h", "daemon_directory").Output(); err == nil {
		master = filepath.Join(strings.TrimSpace(string(out)), "master")
	}
	if _, err := os.Stat(master); err != nil {
		t.Fatalf("postfix master daemon: %v", err)
	}
	p := &Postfix{Name: name, Role: opts.Role, Dir: dir, LogPath: filepath.Join(dir, "maillog")}
	switch opts.Role {
	case PostfixMX:
		if opts.LMTPAddr == "" {
			t.Fatalf("postfix %s: an MX needs PostfixOptions.LMTPAddr", name)
		}
		boxes := opts.Mailboxes
		if boxes == nil {
			for u := range DefaultUsers {
				boxes = append(boxes, u)
			}
			sort.Strings(boxes)
		}
		var lines []string
		for _, b := range boxes {
			lines = append(lines, b+" "+b)
		}
		if err := os.WriteFile(filepath.Join(dir, "vmailbox"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	case PostfixSender:
		if opts.RelayHost == "" {
			t.Fatalf("postfix %s: a sender needs PostfixOptions.RelayHost", name)
		}
	}
	for _, d := range []string{"queue", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if uid, gid, ok := systemUser("postfix"); ok {
		_ = os.Chown(filepath.Join(dir, "data"), uid, gid)
	}
	if opts.TLS {
		c := harness.GenerateCert(t, dir, "postfix-"+name, "mail.test")
		p.Cert = &c
	}
	// writeConfig gives the smtpd listener a fresh candidate address and
	// writes main.cf and master.cf.
	writeConfig := func() error {
		p.SubmissionAddr = harness.CandidateAddr(t)
		p.SMTPAddr = p.SubmissionAddr
		if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(p.mainCf(opts)), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "master.cf"), []byte(p.masterCf(opts)), 0o644); err != nil {
			return err
		}
		// Postfix waits for a configuration file written within the last
		// second to settle (it reads it again after a pause, several
		// times): date them back.
		past := time.Now().Add(-time.Minute)
		for _, f := range []string{"main.cf", "master.cf", "vmailbox"} {
			if err := os.Chtimes(filepath.Join(dir, f), past, past); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		return nil
	}
	if err := writeConfig(); err != nil {
		t.Fatal(err)
	}
	// postfix(1) reports errors on stderr only when it is a terminal; its
	// exit status and the log are what is left.
	if out, err := exec.Command(postfix, "-c", dir, "post-install", "create-missing").CombinedOutput(); err != nil {
		t.Fatalf("postfix -c %s post-install create-missing: %v\n%s\n%s", dir, err, out, harness.TailFile(p.LogPath, 20))
	}
	p.Proc = harness.NewProcess(t, dir, "postfix-"+name+"-master", master, "-s", "-c", dir)
	harness.TailOnFailure(t, 40, p.LogPath)
	written := true // the first attempt uses the files post-install saw
	harness.StartDaemon(t, p.Proc, func() ([]string, error) {
		if !written {
			if err := writeConfig(); err != nil {
				return nil, err
			}
		}
		written = false
		return []string{p.SubmissionAddr}, nil
	}, p.LogPath)
	return p
}

func (p *Postfix) mainCf(opts PostfixOptions) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Generated by switchyard's e2e harness for backend %q. Standalone.\n", p.Name)
	w("compatibility_level = 3.6\n")
	w("queue_directory = %s\n", filepath.Join(p.Dir, "queue"))
	w("data_directory = %s\n", filepath.Join(p.Dir, "data"))
	w("mail_owner = postfix\nsetgid_group = postdrop\n")
	w("syslog_name = postfix-%s\n", p.Name)
	w("maillog_file = %s\nmaillog_file_prefixes = %s\n", p.LogPath, p.Dir)
	w("myhostname = %s.postfix.test\nmydomain = postfix.test\nmyorigin = $myhostname\nmydestination =\n", p.Name)
	w("inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n")
	switch opts.Role {
	case PostfixMX:
		// Mail for "test" goes to Dovecot over LMTP; nothing else is
		// accepted, and nothing leaves the machine.
		w("default_transport = discard:\nlocal_transport = discard:\nrelay_transport = discard:\n")
		w("virtual_mailbox_domains = test\nvirtual_mailbox_maps = texthash:%s\n", filepath.Join(p.Dir, "vmailbox"))
		w("virtual_transport = lmtp:inet:%s\n", opts.LMTPAddr)
		w("lmtp_connect_timeout = 5s\n")
	case PostfixSender:
		// Everything for "test" is relayed through the relayhost (the
		// proxy); nothing else is accepted.
		h, port := HostPort(opts.RelayHost)
		w("mynetworks = 127.0.0.0/8\nrelay_domains = test\nrelayhost = [%s]:%s\n", h, port)
		w("default_transport = smtp\nrelay_transport = smtp\nlocal_transport = discard:\n")
		w("smtp_tls_security_level = none\nsmtp_connect_timeout = 5s\n")
	default:
		// Nothing leaves the machine: every message is queued, then discarded.
		w("default_transport = discard:\nlocal_transport = discard:\nrelay_transport = discard:\n")
	}
	if opts.Role != PostfixSubmission {
		// A deferred recipient is tried again within seconds (the
		// defaults are minutes to hours).
		w("queue_run_delay = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\n")
	}
	w("smtp_dns_support_level = disabled\nsmtpd_peername_lookup = no\n")
	w("smtpd_authorized_xclient_hosts = 127.0.0.0/8\n")
	switch opts.Role {
	case PostfixMX:
		w("smtpd_relay_restrictions = reject_unauth_destination\n")
		w("smtpd_recipient_restrictions =\n")
	case PostfixSender:
		w("smtpd_relay_restrictions = permit_mynetworks, reject\n")
		w("smtpd_recipient_restrictions =\n")
	default:
		w("smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = %s\n", opts.AuthSocket)
		w("smtpd_sasl_security_options = noanonymous\nsmtpd_tls_auth_only = no\n")
		w("smtpd_relay_restrictions = permit_sasl_authenticated, reject\n")
		w("smtpd_recipient_restrictions = permit_sasl_authenticated, reject\n")
	}
	w("smtpd_client_restrictions =\nsmtpd_helo_restrictions =\nsmtpd_sender_restrictions =\n")
	w("smtpd_error_sleep_time = 0\nsmtpd_soft_error_limit = 100\nsmtpd_hard_error_limit = 100\n")
	w("anvil_rate_time_unit = 60s\nsmtpd_client_connection_rate_limit = 0\n")
	if opts.TLS {
		w("smtpd_tls_security_level = may\nsmtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n", p.Cert.CertFile, p.Cert.KeyFile)
	} else {
		w("smtpd_tls_security_level = none\n")
	}
	if opts.ProxyProtocol {
		w("smtpd_upstream_proxy_protocol = haproxy\nsmtpd_upstream_proxy_timeout = 3s\n")
	}
	w("%s", opts.Extra)
	return b.String()
}

// masterCf: the smtpd listener and the internal services a queued
// message needs, none chrooted (the SASL socket is an absolute path); the
// MX and the sender also deliver (lmtp, smtp).
func (p *Postfix) masterCf(opts PostfixOptions) string {
	var delivery string
	if opts.Role != PostfixSubmission {
		delivery = `smtp      unix  -  -  n  -     -  smtp
relay     unix  -  -  n  -     -  smtp
lmtp      unix  -  -  n  -     -  lmtp
`
	}
	return delivery + p.SubmissionAddr + ` inet n - n - - smtpd
pickup    unix  n  -  n  60    1  pickup
cleanup   unix  n  -  n  -     0  cleanup
qmgr      unix  n  -  n  300   1  qmgr
rewrite   unix  -  -  n  -     -  trivial-rewrite
bounce    unix  -  -  n  -     0  bounce
defer     unix  -  -  n  -     0  bounce
trace     unix  -  -  n  -     0  bounce
verify    unix  -  -  n  -     1  verify
flush     unix  n  -  n  1000? 0  flush
proxymap  unix  -  -  n  -     -  proxymap
showq     unix  n  -  n  -     -  showq
error     unix  -  -  n  -     -  error
retry     unix  -  -  n  -     -  error
discard   unix  -  -  n  -     -  discard
anvil     unix  -  -  n  -     1  anvil
scache    unix  -  -  n  -     1  scache
postlog   unix-dgram n - n -   1  postlogd
`
}

// Stop stops Postfix (SIGTERM to its master) and waits until the
// submission port refuses connections.
func (p *Postfix) Stop(t testing.TB) {
	t.Helper()
	harness.StopDaemon(t, p.Proc, "postfix "+p.Name, p.SubmissionAddr)
}

// Restart starts a stopped Postfix again on the same port and queue.
func (p *Postfix) Restart(t testing.TB) {
	t.Helper()
	harness.RestartDaemon(t, p.Proc, []string{p.SubmissionAddr})
}

// Mark returns the current end of Postfix's log.
func (p *Postfix) Mark() harness.LogMark { return harness.MarkOf(p.LogPath) }

// PostfixClient is one smtpd "client=" line: a message's client as Postfix
// believes it (from the socket, XCLIENT or a PROXY header) and its SASL
// login.
type PostfixClient struct {
	QueueID string
	Name    string
	Addr    string
	Port    string // from ", port=N" when logged (not by default)
	Method  string
	User    string
	Line    string
}

var clientRe = regexp.MustCompile(`smtpd\[\d+\]: ([0-9A-F]+): client=([^\[\s]*)\[([^\]]*)\](?::(\d+))?(?:, sasl_method=([^,\s]+))?(?:, sasl_username=([^,\s]+))?`)

// clients are the client= lines in Postfix's log.
func (p *Postfix) clients() harness.LogRecords[PostfixClient] {
	return harness.LogRecords[PostfixClient]{Path: p.LogPath, Re: clientRe, Parse: func(m []string) PostfixClient {
		return PostfixClient{QueueID: m[1], Name: m[2], Addr: m[3], Port: m[4], Method: m[5], User: m[6], Line: m[0]}
	}}
}

// Clients returns the client= lines logged after mark.
func (p *Postfix) Clients(mark harness.LogMark) []PostfixClient { return p.clients().Since(mark) }

// WaitClient waits (at most 5s: postlogd writes asynchronously) until a
// message submitted by user is logged after mark, and returns its line.
func (p *Postfix) WaitClient(t testing.TB, mark harness.LogMark, user string) PostfixClient {
	t.Helper()
	return p.clients().Wait(t, mark, func(c PostfixClient) bool { return c.User == user },
		fmt.Sprintf("no message from %s in postfix %s's log after offset %d", user, p.Name, mark))
}

// AssertNoClient asserts that no message of user was logged after mark.
func (p *Postfix) AssertNoClient(t testing.TB, mark harness.LogMark, user string) {
	t.Helper()
	p.clients().AssertNone(t, mark, func(c PostfixClient) bool { return c.User == user },
		func(c PostfixClient) string {
			return fmt.Sprintf("postfix %s unexpectedly accepted a message from %s: %s", p.Name, user, c.Line)
		})
}

// PostfixDelivery is one delivery attempt of one recipient as the
// delivery agent (smtp, lmtp, discard, ...) logged it.
type PostfixDelivery struct {
	QueueID string
	To      string
	Relay   string
	Status  string // sent, deferred, bounced
	Detail  string // the text in parentheses: the peer's reply
	Line    string
}

var deliveryRe = regexp.MustCompile(`\]: ([0-9A-F]+): to=<([^>]*)>,(?:.* relay=([^,]+),)?.* status=(\w+)(?: \((.*)\))?$`)

// Deliveries returns the delivery attempts logged after mark, in order.
func (p *Postfix) Deliveries(mark harness.LogMark) []PostfixDelivery {
	return harness.LogRecords[PostfixDelivery]{Path: p.LogPath, Re: deliveryRe, Parse: func(m []string) PostfixDelivery {
		return PostfixDelivery{QueueID: m[1], To: m[2], Relay: m[3], Status: m[4], Detail: m[5], Line: m[0]}
	}}.Since(mark)
}

// Flush asks Postfix to retry every deferred message now (postqueue -f).
func (p *Postfix) Flush(t testing.TB) {
	t.Helper()
	bin := harness.RequireBinary(t, "postqueue")
	if _, stderr, err := harness.RunBounded(10*time.Second, nil, bin, "-c", p.Dir, "-f"); err != nil {
		t.Fatalf("postqueue -c %s -f: %v\n%s", p.Dir, err, stderr)
	}
}

// Queue lists the messages still in Postfix's queue (postqueue -j: one
// JSON object a line; empty when everything was delivered or bounced).
func (p *Postfix) Queue() (string, error) {
	bin, err := harness.LookBinary("postqueue")
	if err != nil {
		return "", err
	}
	stdout, stderr, err := harness.RunBounded(10*time.Second, nil, bin, "-c", p.Dir, "-j")
	if err != nil {
		return "", fmt.Errorf("postqueue -c %s -j: %v: %s", p.Dir, err, stderr)
	}
	return strings.TrimSpace(stdout), nil
}

// WaitQueueEmpty waits at most timeout until Postfix's queue is empty,
// flushing it (postqueue -f) every few seconds so that a deferred
// recipient does not wait for the next queue run.
func (p *Postfix) WaitQueueEmpty(t testing.TB, timeout time.Duration) {
	t.Helper()
	last := time.Now()
	err := harness.Eventually(timeout, func() error {
		q, err := p.Queue()
		if err != nil {
			return err
		}
		if q == "" {
			return nil
		}
		if time.Since(last) > 3*time.Second {
			p.Flush(t)
			last = time.Now()
		}
		return fmt.Errorf("postfix %s still has mail queued: %s", p.Name, q)
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, harness.TailFile(p.LogPath, 20))
	}
}
