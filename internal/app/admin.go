package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/admin"
	"github.com/switchyard-mail/switchyard/admin/metrics"
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/internal/app/console"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
)

func init() { config.Implemented.Admin = true }

// ParseLevel maps a configured log level to slog's.
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "trace", "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	case "off":
		return slog.LevelError + 8
	}
	return slog.LevelInfo
}

// startAdmin binds [admin] and serves it until ctx ends.
func (a *App) startAdmin(ctx context.Context) (stop func(), err error) {
	c := a.cfg.Admin
	if c == nil || c.Bind == "" {
		return func() {}, nil
	}
	token, err := secret(c.BearerToken, c.BearerTokenFile, "admin.bearer_token_file")
	if err != nil {
		return nil, err
	}
	viewer, err := secret(c.ViewerToken, c.ViewerTokenFile, "admin.viewer_token_file")
	if err != nil {
		return nil, err
	}
	tc, err := a.implicitTLS(c.TLS, "admin.tls: no [tls.certificate] to serve the admin API with")
	if err != nil {
		return nil, err
	}
	opt := admin.Options{
		BearerToken:      token,
		ViewerToken:      viewer,
		Events:           a.events,
		History:          a.history,
		MinTokenLen:      c.MinTokenLen,
		LockoutThreshold: c.LockoutThreshold,
		LockoutDuration:  c.LockoutDuration.D(),
		Logger:           a.log,
		Registry:         a.reg,
		Metrics:          a.metrics,
		Pprof:            a.pprof,
		TLS:              tc,
	}
	srv, err := admin.New(opt, a.backend())
	if err != nil {
		return nil, err
	}
	ln, addr, err := listenUnlessBound(a.adminLn, c.Bind, "admin.bind", &a.adminAddr)
	if err != nil {
		return nil, err
	}
	a.log.Info("admin API listening", "addr", addr)
	stop = a.serveUntil(ctx, srv, a.fds.Listener(ln, fdbudget.Admin), "admin API stopped")
	if a.pprof {
		a.log.Warn("Go's profiler is served on the admin API under /debug/pprof/ (admin token required)", "addr", addr)
	}
	return stop, nil
}

// implicitTLS is, for tls = "implicit", the listeners' server config,
// whatever [tls.protocols] and certificates are in force (reloads
// included), with the admin API's ALPN; noCert is the error when there is
// no certificate to serve. Plaintext: nil.
func (a *App) implicitTLS(mode config.TLSMode, noCert string) (*tls.Config, error) {
	if mode != config.TLSImplicit {
		return nil, nil
	}
	if a.certs.Load() == nil {
		return nil, errors.New(noCert)
	}
	var cache adminTLSCache
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return cache.get(a.certs.Load()), nil
	}}, nil
}

// listenUnlessBound listens on bind unless a test bound ln already (key
// names the setting in the error) and publishes the address in addr.
func listenUnlessBound(ln net.Listener, bind, key string, addr *atomic.Pointer[string]) (net.Listener, string, error) {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", bind); err != nil {
			return nil, "", fmt.Errorf("%s: %w", key, err)
		}
	}
	at := ln.Addr().String()
	addr.Store(&at)
	return ln, at, nil
}

// loadAddr is an address listenUnlessBound published ("" before).
func loadAddr(addr *atomic.Pointer[string]) string {
	if p := addr.Load(); p != nil {
		return *p
	}
	return ""
}

// serveUntil serves srv on ln, logs stopped if it ends before ctx does, and
// returns what shuts it down.
func (a *App) serveUntil(ctx context.Context, srv *admin.Server, ln net.Listener, stopped string) (stop func()) {
	go func() {
		if err := srv.Serve(ln); err != nil && ctx.Err() == nil {
			a.log.Error(stopped, "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
}

// secret reads a token given inline or in a file (the file wins, as
// for the admin token).
func secret(inline, file, key string) (string, error) {
	if file == "" {
		return inline, nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return strings.TrimSpace(string(raw)), nil
}

// backend is the admin API's Backend over a, made once: its stats are
// registered on the metrics registry when it is made.
func (a *App) backend() *console.Backend {
	a.statsOnce.Do(func() {
		if a.reg != nil {
			if err := metrics.RegisterStats(a.reg, a.console); err != nil {
				a.log.Error("metrics: stats collector", "err", err)
			}
		}
	})
	return a.console
}

// startMetrics binds [metrics] and serves /metrics there until ctx ends.
func (a *App) startMetrics(ctx context.Context) (stop func(), err error) {
	c := a.cfg.Metrics
	if c == nil || c.Bind == "" {
		return func() {}, nil
	}
	token, err := secret(c.Token, c.TokenFile, "metrics.token_file")
	if err != nil {
		return nil, err
	}
	a.backend() // registers the stats collector
	tc, err := a.implicitTLS(c.TLS, "metrics.tls: no [tls.certificate] to serve /metrics with")
	if err != nil {
		return nil, err
	}
	opt := admin.MetricsOptions{Registry: a.reg, Metrics: a.metrics, Token: token, Logger: a.log, TLS: tc}
	srv, err := admin.NewMetricsServer(opt)
	if err != nil {
		return nil, err
	}
	ln, addr, err := listenUnlessBound(a.metricsLn, c.Bind, "metrics.bind", &a.metricsAddr)
	if err != nil {
		return nil, err
	}
	stop = a.serveUntil(ctx, srv, ln, "metrics listener stopped")
	a.log.Info("metrics listener", "addr", addr, "tls", opt.TLS != nil, "token", token != "")
	return stop, nil
}

// MetricsAddr is the [metrics] listener's address ("" before it listens).
func (a *App) MetricsAddr() string { return loadAddr(&a.metricsAddr) }

// adminTLSCache derives the admin API's TLS config from the listeners'
// once per certificate set (a reload makes a new set).
type adminTLSCache struct {
	mu  sync.Mutex
	cs  *certSet
	cfg *tls.Config
}

func (c *adminTLSCache) get(cs *certSet) *tls.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cs != cs {
		cfg := cs.serverConfig().Clone()
		cfg.NextProtos = []string{"http/1.1"}
		c.cs, c.cfg = cs, cfg
	}
	return c.cfg
}

// EnablePprof serves Go's profiler on the admin API under /debug/pprof/,
// behind the admin token. Call it before Run.
func (a *App) EnablePprof() { a.pprof = true }

// AdminAddr is the admin API's listening address ("" before it listens).
func (a *App) AdminAddr() string { return loadAddr(&a.adminAddr) }
