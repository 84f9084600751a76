package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/bench/protoload"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// What the scenarios and mock modes share: the target sampler, the
// client's TLS configuration, the progress writer, the report, and the
// mock backends' TLS, names and lifetime.

// targetSampler returns the sampler of --pid (nil without it), probed
// once; --pprof-url without --pid is an error.
func targetSampler(f *flags) (*stats.Sampler, error) {
	if f.pprofURL != "" && f.pid <= 0 {
		return nil, errors.New("--pprof-url needs --pid")
	}
	if f.pid <= 0 {
		return nil, nil
	}
	s := &stats.Sampler{PID: f.pid, PprofURL: f.pprofURL}
	if f.pprofToken != "" {
		tok, err := os.ReadFile(f.pprofToken)
		if err != nil {
			return nil, fmt.Errorf("--pprof-token-file: %w", err)
		}
		s.PprofToken = strings.TrimSpace(string(tok))
	}
	if u, err := url.Parse(f.pprofURL); err == nil && u.Scheme == "https" {
		// switchyard's admin API: its certificate is often self-signed;
		// skip verification on loopback only, where nothing is in between.
		ip, _ := netip.ParseAddr(u.Hostname())
		insecure := f.insecure || ip.IsLoopback() || u.Hostname() == "localhost"
		s.Client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: insecure}}}
	}
	if _, err := s.Sample("probe"); err != nil {
		return nil, fmt.Errorf("--pid %d: %v", f.pid, err)
	}
	return s, nil
}

// clientTLS is the load's TLS configuration: nil with --tls none, else
// --insecure, --server-name and the CAs of --ca.
func clientTLS(f *flags) (*tls.Config, error) {
	if f.tlsMode == "none" {
		return nil, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: f.insecure, ServerName: f.serverName}
	switch f.tlsMax {
	case "", "1.3":
	case "1.2":
		cfg.MaxVersion = tls.VersionTLS12
	default:
		return nil, fmt.Errorf("--tls-max %q: want 1.2 or 1.3", f.tlsMax)
	}
	if f.tlsResume {
		// One cache for every connection: each login after the first
		// resumes the session of an earlier one, as returning clients do.
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1024)
	}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no certificates", f.caFile)
		}
	}
	return cfg, nil
}

// progress is the progress line's writer and interval (none with
// --progress 0).
func progress(f *flags, stderr io.Writer) (io.Writer, time.Duration) {
	if f.progress > 0 {
		return stderr, f.progress
	}
	return nil, 0
}

// clientSide is what every scenario's options take from the flags: the
// progress line, the target sampler and the client's TLS.
type clientSide struct {
	Progress      io.Writer
	ProgressEvery time.Duration
	Sampler       *stats.Sampler
	TLSConfig     *tls.Config
}

// client reads the progress writer and the sampler (targetSampler), and
// with withTLS the client's TLS (clientTLS).
func client(f *flags, stderr io.Writer, withTLS bool) (c clientSide, err error) {
	c.Progress, c.ProgressEvery = progress(f, stderr)
	if c.Sampler, err = targetSampler(f); err != nil {
		return c, err
	}
	if withTLS {
		c.TLSConfig, err = clientTLS(f)
	}
	return c, err
}

// protoRun is the run options of the protoload scenarios (login storms of
// other protocols, deliver, http): the flags and the client side.
func protoRun(f *flags, c clientSide) protoload.Run {
	return protoload.Run{
		Sources: f.sources, Timeout: f.timeout, Linger: f.linger, Concurrency: f.concurrency,
		Duration: f.duration, Count: f.count, Timeline: f.timeline,
		Progress: c.Progress, ProgressEvery: c.ProgressEvery, Sampler: c.Sampler,
	}
}

// result is what every scenario returns.
type result interface {
	WriteText(io.Writer) error
	WriteJSON(path string) error
}

// report prints res as a table and writes --json; runErr (the run's own
// error) wins over an error writing the JSON.
func report(f *flags, stdout io.Writer, res result, runErr error) error {
	res.WriteText(stdout)
	if f.jsonFile != "" {
		if err := res.WriteJSON(f.jsonFile); err != nil {
			return err
		}
	}
	return runErr
}

// reportRun is report for a run that may have returned no result: then
// the run's error alone.
func reportRun[R interface {
	*T
	result
}, T any](f *flags, stdout io.Writer, res R, runErr error) error {
	if res == nil {
		return runErr
	}
	return report(f, stdout, res, runErr)
}

// runScenario is what every load does around its run: the client side
// (client, with the client's TLS when withTLS), the run, the report
// (reportRun).
func runScenario[R interface {
	*T
	result
}, T any](f *flags, stdout, stderr io.Writer, withTLS bool, run func(c clientSide) (R, error)) error {
	c, err := client(f, stderr, withTLS)
	if err != nil {
		return err
	}
	res, err := run(c)
	return reportRun(f, stdout, res, err)
}

// mockTLSConfig is the mock backends' server TLS: --mock-cert/--mock-key,
// else a throw-away self-signed certificate when selfSigned, else nil.
func mockTLSConfig(f *flags, selfSigned bool) (*tls.Config, error) {
	switch {
	case f.mockCert != "" || f.mockKey != "":
		cert, err := tls.LoadX509KeyPair(f.mockCert, f.mockKey)
		if err != nil {
			return nil, err
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
	case selfSigned:
		tc, _, err := mockimap.SelfSigned()
		return tc, err
	}
	return nil, nil
}

// mockXClient is the XCLIENT attributes the submission, SMTP and LMTP
// mocks advertise with --mock-xclient (read only, shared by all of them).
var mockXClient = []string{"ADDR", "PORT", "DESTADDR", "DESTPORT", "HELO", "PROTO"}

// mockName is the name of the i-th mock backend: --mock-names, then mock<i>.
func mockName(f *flags, i int) string {
	if i < len(f.mockNames) {
		return f.mockNames[i]
	}
	return fmt.Sprintf("mock%d", i)
}

// serveMocks starts a mock backend on each --mock-backend address with
// start (which prints its line; a failure is "<label> <name> on <addr>:
// ..."), waits (waitMock), prints each one's summary and closes them all.
func serveMocks[S interface{ Close() error }](ctx context.Context, f *flags, label string, start func(name, addr string) (S, error), summary func(name string, s S)) error {
	var servers []S
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	for i, addr := range f.mockBackend {
		s, err := start(mockName(f, i), addr)
		if err != nil {
			return fmt.Errorf("%s %s on %s: %v", label, mockName(f, i), addr, err)
		}
		servers = append(servers, s)
	}
	waitMock(ctx, f)
	for i, s := range servers {
		summary(mockName(f, i), s)
	}
	return nil
}

// waitMock returns when ctx ends or --duration (if set) has passed.
func waitMock(ctx context.Context, f *flags) {
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	<-ctx.Done()
}
