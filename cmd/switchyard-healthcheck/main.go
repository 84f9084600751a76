// Command switchyard-healthcheck asks a running switchyard whether it is
// alive: it sends GET /healthz to the admin API (HTTPS) and exits 0 on a
// 200 answer, 1 otherwise. It exists for container images without curl
// (the distroless image's HEALTHCHECK runs it) and has no other job.
//
// The admin address is taken from, in order: --addr, $SWITCHYARD_HEALTHCHECK_ADDR,
// $SWITCHYARD_ADMIN_BIND, then admin.bind of the configuration file
// (--config or $SWITCHYARD_CONFIG, or $SWITCHYARD_INIT_DIR/switchyard.toml
// when that file is missing, with the SWITCHYARD_* variables applied as
// switchyard applies them, so $SWITCHYARD_SET can carry admin.bind).
//
// An unspecified or loopback bind address (0.0.0.0:9443, [::]:9443,
// 127.0.0.1:9443) is checked on loopback, where the server's certificate is
// not verified: the probe never leaves the host, and the admin certificate
// is often self-signed. Any other address is verified against the system
// roots or --ca-file, unless --insecure is given.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/config/overrides"
	"github.com/switchyard-mail/switchyard/internal/cliflags"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run returns the exit status: 0 healthy, 1 anything else. Docker reserves
// status 2 in HEALTHCHECK commands, so usage errors are 1 as well.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("switchyard-healthcheck", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "admin API address host:port ($SWITCHYARD_HEALTHCHECK_ADDR, $SWITCHYARD_ADMIN_BIND, or admin.bind of --config)")
	configPath := fs.String("config", getenv("SWITCHYARD_CONFIG"), "switchyard's TOML file, read for admin.bind ($SWITCHYARD_CONFIG)")
	path := fs.String("path", "/healthz", "path to GET (/readyz to check readiness)")
	timeout := fs.Duration("timeout", 3*time.Second, "time allowed for the whole check")
	caFile := fs.String("ca-file", "", "PEM CAs to verify a non-loopback admin address with")
	insecure := fs.Bool("insecure", false, "do not verify the certificate of a non-loopback admin address")
	quiet := fs.BoolP("quiet", "q", false, "print nothing on success")
	if code := cliflags.Parse(fs, args, stderr, 1); code >= 0 {
		return code
	}
	if !strings.HasPrefix(*path, "/") {
		fmt.Fprintf(stderr, "switchyard-healthcheck: --path %q must start with /\n", *path)
		return 1
	}

	bind, from, err := adminAddr(*addr, *configPath, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "switchyard-healthcheck:", err)
		return 1
	}
	targets, loopback, err := probeTargets(bind)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard-healthcheck: %s: %v\n", from, err)
		return 1
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case loopback:
		// The probe stays on this host; the admin certificate names the
		// service, not 127.0.0.1, and is often self-signed.
		tlsConf.InsecureSkipVerify = true
	case *insecure:
		tlsConf.InsecureSkipVerify = true
	case *caFile != "":
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(stderr, "switchyard-healthcheck:", err)
			return 1
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "switchyard-healthcheck: %s: no PEM certificate\n", *caFile)
			return 1
		}
		tlsConf.RootCAs = pool
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var errs []error
	for _, t := range targets {
		status, err := get(ctx, tlsConf, t, *path)
		if err == nil && status == http.StatusOK {
			if !*quiet {
				fmt.Fprintf(stdout, "ok: https://%s%s\n", t, *path)
			}
			return 0
		}
		if err == nil {
			err = fmt.Errorf("https://%s%s: %d %s", t, *path, status, http.StatusText(status))
		}
		errs = append(errs, err)
	}
	fmt.Fprintln(stderr, "switchyard-healthcheck: unhealthy:", errors.Join(errs...))
	return 1
}

// adminAddr picks the admin API's bind address and says where it came from.
func adminAddr(flagAddr, configPath string, getenv func(string) string) (addr, from string, err error) {
	if flagAddr != "" {
		return flagAddr, "--addr", nil
	}
	for _, env := range []string{"SWITCHYARD_HEALTHCHECK_ADDR", "SWITCHYARD_ADMIN_BIND"} {
		if v := strings.TrimSpace(getenv(env)); v != "" {
			return v, "$" + env, nil
		}
	}
	// The file switchyard serves: a missing one was replaced by the starter
	// file in $SWITCHYARD_INIT_DIR on a container's first start.
	configPath, _ = config.PathOrInit(configPath, getenv("SWITCHYARD_INIT_DIR"))
	if configPath == "" {
		return "", "", errors.New("no admin address: give --addr, set $SWITCHYARD_HEALTHCHECK_ADDR, or point --config ($SWITCHYARD_CONFIG) at a file with [admin] bind")
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		return "", "", err
	}
	// The same environment switchyard sees (no flags: they are its own).
	over := overrides.RegisterFlags(pflag.NewFlagSet("switchyard", pflag.ContinueOnError))
	if err := over.Apply(cfg, getenv); err != nil {
		return "", "", err
	}
	if cfg.Admin == nil || cfg.Admin.Bind == "" {
		return "", "", fmt.Errorf("%s has no [admin] bind: there is no /healthz to ask (run the container with --no-healthcheck, or configure [admin])", configPath)
	}
	return cfg.Admin.Bind, configPath + ": admin.bind", nil
}

// probeTargets turns a bind address into the addresses to connect to, and
// says whether they are all loopback. An unspecified address is probed on
// the loopback address of its family, then on the other family's (a "[::]"
// socket usually accepts IPv4 too).
func probeTargets(bind string) (targets []string, loopback bool, err error) {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return nil, false, err
	}
	if port == "" || port == "0" {
		return nil, false, fmt.Errorf("%q: no port", bind)
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case host == "" || (err == nil && ip.Is4() && ip.IsUnspecified()):
		return []string{net.JoinHostPort("127.0.0.1", port)}, true, nil
	case err == nil && ip.IsUnspecified():
		return []string{net.JoinHostPort("::1", port), net.JoinHostPort("127.0.0.1", port)}, true, nil
	case err == nil:
		return []string{net.JoinHostPort(ip.String(), port)}, ip.IsLoopback(), nil
	case strings.EqualFold(host, "localhost"):
		return []string{net.JoinHostPort("127.0.0.1", port), net.JoinHostPort("::1", port)}, true, nil
	default:
		return []string{bind}, false, nil
	}
}

func get(ctx context.Context, tlsConf *tls.Config, hostport, path string) (int, error) {
	tr := &http.Transport{
		TLSClientConfig:   tlsConf,
		DisableKeepAlives: true,
		Proxy:             nil, // never through $HTTPS_PROXY
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+hostport+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "switchyard-healthcheck")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, nil
}
