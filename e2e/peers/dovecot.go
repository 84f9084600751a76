//go:build linux

package peers

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
)

// DefaultUsers are the accounts every test Dovecot knows, with their
// passwords. Each backend has the same accounts; only the marker message
// in their INBOX differs.
var DefaultUsers = map[string]string{
	"alice@test": "alice-pw",
	"bob@test":   "bob-pw",
	"carol@test": "carol-pw",
	"dave@test":  "dave-pw",
}

// DovecotOptions selects what a test Dovecot offers.
type DovecotOptions struct {
	// TLS enables ssl = yes with a generated certificate: STARTTLS on the
	// plain ports and the implicit-TLS ports (IMAPS, POP3S).
	TLS bool
	// POP3, ManageSieve and LMTP add those listeners (IMAP is always on).
	POP3        bool
	ManageSieve bool
	LMTP        bool
	// Users replaces DefaultUsers when not nil.
	Users map[string]string
	// AuthFailureDelay is Dovecot's auth_failure_delay (default 0s here, so
	// a wrong password is answered at once; Dovecot's own default is 2s).
	AuthFailureDelay time.Duration
	// Extra is appended verbatim to dovecot.conf.
	Extra string
}

// Dovecot is a standalone Dovecot started by a test.
type Dovecot struct {
	Name    string
	Dir     string
	Conf    string
	LogPath string        // Dovecot's own log (log_path); the process' stdout/stderr go to Proc.LogPath
	Cert    *harness.Cert // when Options.TLS
	Users   map[string]string

	IMAPAddr       string // plain IMAP (STARTTLS when TLS)
	IMAPSAddr      string // implicit TLS; empty without TLS
	IMAPProxyAddr  string // haproxy = yes: a PROXY v1/v2 header is required
	POP3Addr       string
	POP3SAddr      string
	POP3ProxyAddr  string
	SieveAddr      string
	SieveProxyAddr string
	LMTPAddr       string
	LMTPProxyAddr  string // LMTP with haproxy = yes: a PROXY v1/v2 header is required

	Proc *harness.Process
}

// Marker is the subject of the one message in every INBOX of backend name.
func Marker(name string) string { return "Marker: you are on " + name }

// StartDovecot writes a complete standalone dovecot.conf for backend name,
// starts `dovecot -F -c conf` and waits until it listens on every port
// (candidate ports, tried again on new ones if one was taken meanwhile:
// startDaemon). It is stopped when the test ends.
func StartDovecot(t testing.TB, name string, opts DovecotOptions) *Dovecot {
	t.Helper()
	bin := harness.RequireBinary(t, "dovecot")
	d := &Dovecot{Name: name, Dir: harness.ShortTempDir(t, "dc-"+name), Users: opts.Users}
	if d.Users == nil {
		d.Users = DefaultUsers
	}
	d.Conf = filepath.Join(d.Dir, "dovecot.conf")
	d.LogPath = filepath.Join(d.Dir, "dovecot.log")

	if opts.TLS {
		c := harness.GenerateCert(t, d.Dir, "dovecot-"+name, "mail.test")
		d.Cert = &c
	}
	uid, gid := mailOwner(t)
	if err := d.writeMail(uid, gid); err != nil {
		t.Fatal(err)
	}
	d.Proc = harness.NewProcess(t, d.Dir, "dovecot-"+name+"-stdout", bin, "-F", "-c", d.Conf)
	harness.TailOnFailure(t, 40, d.LogPath)
	harness.StartDaemon(t, d.Proc, func() ([]string, error) {
		d.pickAddrs(t, opts)
		return d.Addrs(), os.WriteFile(d.Conf, []byte(d.config(opts, uid, gid)), 0o644)
	}, d.LogPath)
	return d
}

// pickAddrs gives every listener opts asks for a fresh candidate address.
func (d *Dovecot) pickAddrs(t testing.TB, opts DovecotOptions) {
	pick := func(on bool) string {
		if !on {
			return ""
		}
		return harness.CandidateAddr(t)
	}
	d.IMAPAddr, d.IMAPProxyAddr, d.IMAPSAddr = pick(true), pick(true), pick(opts.TLS)
	d.POP3Addr, d.POP3ProxyAddr, d.POP3SAddr = pick(opts.POP3), pick(opts.POP3), pick(opts.POP3 && opts.TLS)
	d.SieveAddr, d.SieveProxyAddr = pick(opts.ManageSieve), pick(opts.ManageSieve)
	d.LMTPAddr, d.LMTPProxyAddr = pick(opts.LMTP), pick(opts.LMTP)
}

func (d *Dovecot) Addrs() []string {
	var out []string
	for _, a := range []string{d.IMAPAddr, d.IMAPSAddr, d.IMAPProxyAddr, d.POP3Addr, d.POP3SAddr,
		d.POP3ProxyAddr, d.SieveAddr, d.SieveProxyAddr, d.LMTPAddr, d.LMTPProxyAddr} {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Stop stops Dovecot (SIGTERM to its master's PID) and waits until its
// IMAP port refuses connections.
func (d *Dovecot) Stop(t testing.TB) {
	t.Helper()
	harness.StopDaemon(t, d.Proc, "dovecot "+d.Name, d.IMAPAddr)
}

// Restart starts a stopped Dovecot again on the same ports and data.
func (d *Dovecot) Restart(t testing.TB) {
	t.Helper()
	harness.RestartDaemon(t, d.Proc, d.Addrs())
}

// mailOwner is the uid/gid that owns the mail: Dovecot refuses to access
// mail as root, so use the "dovecot" system user that the Debian package
// creates (or "nobody" as a last resort).
func mailOwner(t testing.TB) (int, int) {
	t.Helper()
	for _, name := range []string{"dovecot", "nobody"} {
		if uid, gid, ok := systemUser(name); ok {
			return uid, gid
		}
	}
	t.Fatal("no dovecot or nobody user to own the test mail")
	return 0, 0
}

// systemUser is the uid and gid of a system user (one a Debian package
// creates, such as dovecot or postfix); ok is false when there is none.
func systemUser(name string) (uid, gid int, ok bool) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, false
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	return uid, gid, err1 == nil && err2 == nil
}

func (d *Dovecot) writeMail(uid, gid int) error {
	var lines []string
	users := make([]string, 0, len(d.Users))
	for u := range d.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		lines = append(lines, fmt.Sprintf("%s:{PLAIN}%s::::::", u, d.Users[u]))
		home := filepath.Join(d.Dir, "home", u)
		md := filepath.Join(home, "Maildir")
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
				return err
			}
		}
		msg := fmt.Sprintf("Return-Path: <postmaster@%[1]s.test>\r\n"+
			"From: Switchyard e2e <postmaster@%[1]s.test>\r\n"+
			"To: <%[2]s>\r\n"+
			"Subject: %[3]s\r\n"+
			"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"+
			"Message-ID: <marker-%[1]s@switchyard.test>\r\n"+
			"\r\n"+
			"This mailbox is served by the backend named %[1]s.\r\n", d.Name, u, Marker(d.Name))
		file := filepath.Join(md, "cur", fmt.Sprintf("1704067200.M1P1.%s,S=%d:2,", d.Name, len(msg)))
		if err := os.WriteFile(file, []byte(msg), 0o600); err != nil {
			return err
		}
		err := filepath.Walk(home, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(d.Dir, "home"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.Dir, "passwd"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

func HostPort(addr string) (string, string) {
	h, p, _ := net.SplitHostPort(addr)
	return h, p
}

// listener renders an inet_listener block; an empty addr disables it.
func listener(name, addr string, extra ...string) string {
	if addr == "" {
		return fmt.Sprintf("  inet_listener %s {\n    port = 0\n  }\n", name)
	}
	h, p := HostPort(addr)
	s := fmt.Sprintf("  inet_listener %s {\n    address = %s\n    port = %s\n", name, h, p)
	for _, e := range extra {
		s += "    " + e + "\n"
	}
	return s + "  }\n"
}

// service renders a service block holding body (its listeners and
// settings, each rendered with its own indentation and line ends).
func service(name string, body ...string) string {
	return "service " + name + " {\n" + strings.Join(body, "") + "}\n"
}

func (d *Dovecot) config(opts DovecotOptions, uid, gid int) string {
	protocols := []string{"imap"}
	if opts.POP3 {
		protocols = append(protocols, "pop3")
	}
	if opts.ManageSieve {
		protocols = append(protocols, "sieve")
	}
	if opts.LMTP {
		protocols = append(protocols, "lmtp")
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Generated by switchyard's e2e harness for backend %q. Standalone: no includes.\n", d.Name)
	w("instance_name = sy-e2e-%s-%d\n", d.Name, os.Getpid())
	w("base_dir = %s\n", filepath.Join(d.Dir, "run"))
	w("state_dir = %s\n", filepath.Join(d.Dir, "state"))
	w("log_path = %s\n", d.LogPath)
	w("info_log_path = %s\n", d.LogPath)
	w("debug_log_path = %s\n", d.LogPath)
	w("protocols = %s\n", strings.Join(protocols, " "))
	w("listen = 127.0.0.1\n")
	w("shutdown_clients = yes\n")
	w("default_internal_user = dovecot\n")
	w("default_internal_group = dovecot\n")
	w("default_login_user = dovenull\n")
	// The proxy connects from loopback: trust it for ID x-originating-ip
	// (login_trusted_networks) and for PROXY headers (haproxy_trusted_networks).
	w("login_trusted_networks = 127.0.0.0/8\n")
	w("haproxy_trusted_networks = 127.0.0.0/8\n")
	w("haproxy_timeout = 3s\n")
	w("disable_plaintext_auth = no\n")
	w("auth_mechanisms = plain login\n")
	w("auth_verbose = yes\n")
	w("auth_failure_delay = %ds\n", int(opts.AuthFailureDelay/time.Second))
	w("auth_cache_size = 0\n")
	w("login_log_format_elements = user=<%%u> method=%%m rip=%%r rport=%%b lip=%%l lport=%%a mpid=%%e %%c session=<%%{session}>\n")
	w("first_valid_uid = %d\n", uid)
	w("first_valid_gid = %d\n", gid)
	w("mail_location = maildir:~/Maildir\n")
	w("mail_fsync = never\n")
	w("imap_id_log = *\n")
	if opts.TLS {
		w("ssl = yes\nssl_cert = <%s\nssl_key = <%s\nssl_min_protocol = TLSv1.2\n", d.Cert.CertFile, d.Cert.KeyFile)
	} else {
		w("ssl = no\n")
	}
	w("passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%%u %s\n}\n", filepath.Join(d.Dir, "passwd"))
	w("userdb {\n  driver = static\n  args = uid=%d gid=%d home=%s/%%u\n}\n", uid, gid, filepath.Join(d.Dir, "home"))
	w("namespace inbox {\n  inbox = yes\n  separator = /\n}\n")

	// Login processes: one per connection is Dovecot's default; keep it
	// (it is what real deployments run), but keep the pool small.
	w("%s", service("imap-login",
		listener("imap", d.IMAPAddr),
		listener("imaps", d.IMAPSAddr, "ssl = yes"),
		listener("imap_haproxy", d.IMAPProxyAddr, "haproxy = yes"),
		"  process_min_avail = 0\n"))
	if opts.POP3 {
		w("%s", service("pop3-login",
			listener("pop3", d.POP3Addr),
			listener("pop3s", d.POP3SAddr, "ssl = yes"),
			listener("pop3_haproxy", d.POP3ProxyAddr, "haproxy = yes")))
		w("pop3_uidl_format = %%08Xu%%08Xv\n")
	}
	if opts.ManageSieve {
		w("%s", service("managesieve-login",
			listener("sieve", d.SieveAddr),
			listener("sieve_haproxy", d.SieveProxyAddr, "haproxy = yes")))
		w("plugin {\n  sieve = file:~/sieve;active=~/.dovecot.sieve\n}\n")
	}
	if opts.LMTP {
		w("%s", service("lmtp",
			listener("lmtp", d.LMTPAddr),
			listener("lmtp_haproxy", d.LMTPProxyAddr, "haproxy = yes")))
	}
	// Keep every unix socket inside base_dir and nothing on default ports.
	w("service imap-urlauth-login {\n  inet_listener imap-urlauth {\n    port = 0\n  }\n}\n")
	w("%s", opts.Extra)
	return b.String()
}

// Mark returns the current end of Dovecot's log.
func (d *Dovecot) Mark() harness.LogMark { return harness.MarkOf(d.LogPath) }

// LoginRecord is one successful login as Dovecot logged it.
type LoginRecord struct {
	Proto  string // imap-login, pop3-login, managesieve-login
	User   string
	Method string
	RIP    string
	RPort  string
	LIP    string
	Line   string
}

var loginRe = regexp.MustCompile(`(\S+-login): (?:Info: )?Login: user=<([^>]*)>, method=(\S+), rip=([^,\s]+), rport=([^,\s]*), lip=([^,\s]+)`)

// logins are the successful logins in Dovecot's log.
func (d *Dovecot) logins() harness.LogRecords[LoginRecord] {
	return harness.LogRecords[LoginRecord]{Path: d.LogPath, Re: loginRe, Parse: func(m []string) LoginRecord {
		return LoginRecord{Proto: m[1], User: m[2], Method: m[3], RIP: m[4], RPort: m[5], LIP: m[6], Line: m[0]}
	}}
}

// Logins returns the successful logins logged after mark.
func (d *Dovecot) Logins(mark harness.LogMark) []LoginRecord { return d.logins().Since(mark) }

// WaitLogin waits (at most 5s: Dovecot's log process writes
// asynchronously) until a login of user logged after mark appears, and
// returns it.
func (d *Dovecot) WaitLogin(t testing.TB, mark harness.LogMark, user string) LoginRecord {
	t.Helper()
	return d.logins().Wait(t, mark, func(l LoginRecord) bool { return l.User == user },
		fmt.Sprintf("no login for %s in %s's log after offset %d", user, d.Name, mark))
}

// AssertLoginRIP asserts that Dovecot logged a login of user with
// rip=rip after mark: the client address the backend believes in. It
// returns that login.
func (d *Dovecot) AssertLoginRIP(t testing.TB, mark harness.LogMark, user, rip string) LoginRecord {
	t.Helper()
	l := d.WaitLogin(t, mark, user)
	if l.RIP != rip {
		t.Fatalf("dovecot %s logged login of %s with rip=%s, want rip=%s\n%s", d.Name, user, l.RIP, rip, l.Line)
	}
	return l
}

// AssertNoLogin asserts that no login of user was logged after mark
// (give the log a moment first: it is written asynchronously).
func (d *Dovecot) AssertNoLogin(t testing.TB, mark harness.LogMark, user string) {
	t.Helper()
	d.logins().AssertNone(t, mark, func(l LoginRecord) bool { return l.User == user },
		func(l LoginRecord) string {
			return fmt.Sprintf("dovecot %s unexpectedly logged a login of %s: %s", d.Name, user, l.Line)
		})
}
