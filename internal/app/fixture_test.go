package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/internal/testcert"
)

// The whole-proxy fixtures (IMAP, POP3, ManageSieve, submission) share
// their shape: a temporary directory with a certificate and a mapping file,
// two mock backends "old" (the default) and "new", listeners for one
// protocol, and an App run until the test ends.

// anyPort is what every test listener binds: the kernel picks a free
// port and the test reads it back with addrOf once the App has started
// (a port probed free and bound later may be taken in between).
const anyPort = "127.0.0.1:0"

// addrOf returns the address listener id of a started App is bound to.
func addrOf(t *testing.T, a *App, id string) string {
	t.Helper()
	addrs := a.Addrs(id)
	if len(addrs) == 0 {
		t.Fatalf("listener %s has no bound address", id)
	}
	return addrs[0]
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// mockBackend is what the bench mock servers have in common.
type mockBackend interface {
	Addr() string
	Close() error
}

// listenMock starts a mock backend and closes it when the test ends.
func listenMock[S mockBackend](t *testing.T, listen func() (S, error)) S {
	t.Helper()
	s, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// proxyFiles holds a fixture's certificate and mapping file.
type proxyFiles struct {
	dir, cert, key, mapping string
}

// writeProxyFiles writes a certificate for localhost and map.txt holding
// mapping into a fresh temporary directory.
func writeProxyFiles(t *testing.T, mapping string) proxyFiles {
	t.Helper()
	f := proxyFiles{dir: t.TempDir()}
	f.mapping = filepath.Join(f.dir, "map.txt")
	if err := os.WriteFile(f.mapping, []byte(mapping), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.cert, f.key, err = testcert.WriteFiles(f.dir, "localhost"); err != nil {
		t.Fatal(err)
	}
	return f
}

// listenerSpec is one [listener.NAME] section, bound to anyPort.
type listenerSpec struct {
	name, tls string
	extra     string // further lines of the section
}

// destSpec is one plaintext [destination.NAME] on 127.0.0.1.
type destSpec struct {
	forwarding string
	port       string
	extra      string // further lines of the section
}

// The listeners the fixtures have besides "plain".
var (
	starttlsListener = listenerSpec{name: "starttls", tls: "starttls"}
	implicitListener = listenerSpec{name: "implicit", tls: "implicit"}
	proxiedListener  = listenerSpec{name: "proxied", tls: "plain", extra: proxiedLines}
)

// xclientTo is a destination on b that learns the client's address from
// XCLIENT.
func xclientTo(b mockBackend) destSpec {
	return destSpec{forwarding: "xclient", port: portOf(b.Addr())}
}

// proxyTo is a destination on b that learns the client's address from a
// PROXY header.
func proxyTo(b mockBackend) destSpec { return destSpec{forwarding: "proxy", port: portOf(b.Addr())} }

// proxySpec is a whole-proxy configuration for one protocol.
type proxySpec struct {
	protocol  string
	server    string // further lines of [server]
	files     proxyFiles
	listeners []listenerSpec
	old, new  destSpec
	mapping   string // the [mapping] section(s)
	caps      string // the [capabilities.PROTOCOL] lines, and anything after
}

// fileMapping is a [mapping] section reading path, with further lines.
func fileMapping(path, extra string) string {
	return fmt.Sprintf("[mapping]\nsource = \"file\"\n%s[mapping.file]\npath = %q\n", extra, path)
}

// certSection is the [tls.certificate.main] section of the fixture's
// certificate.
func (f proxyFiles) certSection() string {
	return fmt.Sprintf("[tls.certificate.main]\ncert = %q\nkey = %q\ndefault = true\n", f.cert, f.key)
}

// listenerSection is [listener.NAME] of proto bound to anyPort; lines are
// its further keys.
func listenerSection(name, proto, tls, lines string) string {
	return fmt.Sprintf("[listener.%s]\nprotocol = %q\nbind = [%q]\ntls = %q\n%s", name, proto, anyPort, tls, lines)
}

// destSection is [destination.NAME] on 127.0.0.1 (lines: its further
// keys) and its [destination.NAME.protocol.PROTO] section for port.
func destSection(name, lines, proto, port, tls string) string {
	return fmt.Sprintf("[destination.%s]\nhost = \"127.0.0.1\"\n%s[destination.%s.protocol.%s]\nport = %s\ntls = %q\n", name, lines, name, proto, port, tls)
}

// toml renders the configuration.
func (p proxySpec) toml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n[server]\nbackend_timeout = \"2s\"\n%s", p.server)
	b.WriteString(p.files.certSection())
	for _, l := range p.listeners {
		b.WriteString(listenerSection(l.name, p.protocol, l.tls, l.extra))
	}
	for _, d := range []struct {
		name string
		destSpec
	}{{"old", p.old}, {"new", p.new}} {
		lines := fmt.Sprintf("forwarding = %q\nallow_plaintext_auth = true\n%s", d.forwarding, d.extra)
		b.WriteString(destSection(d.name, lines, p.protocol, d.port, "plain"))
	}
	fmt.Fprintf(&b, "[routing]\ndefault_destination = \"old\"\n%s", p.mapping)
	fmt.Fprintf(&b, "[capabilities.%s]\n%s", p.protocol, p.caps)
	return b.String()
}

// startApp parses, validates and runs a configuration until the test ends;
// prepare, if given, sees the App between New and Run.
func startApp(t *testing.T, text string, prepare ...func(*App)) *App {
	t.Helper()
	cfg, err := config.Parse([]byte(text), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prepare {
		p(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("app did not stop")
		}
	})
	select {
	case <-a.Started():
	case err := <-done:
		t.Fatalf("app stopped: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("app did not start")
	}
	return a
}

// dialTCP connects to addr, closes the connection when the test ends and
// gives it deadline for all it does.
func dialTCP(t *testing.T, addr string, deadline time.Duration) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(deadline))
	return c
}

// doRequest sends req with c and returns the status and the whole body.
func doRequest(t testing.TB, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// proxiedLines make a listener require a PROXY header from the loopback.
const proxiedLines = "proxy_protocol = \"required\"\nproxy_trusted = [\"127.0.0.0/8\"]\n"
