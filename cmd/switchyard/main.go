// Command switchyard is the multi-protocol e-mail proxy. It reads a TOML
// file (--config), flags and SWITCHYARD_* environment variables, validates
// everything, then serves until SIGINT/SIGTERM. SIGHUP rereads the file and
// applies destinations, certificates, the log level and the mapping file
// without touching a session; other changes are logged as needing a restart.
// --ready-file reports the bound addresses (port 0 in bind) once it serves.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/internal/app"
	"github.com/switchyard-mail/switchyard/internal/demo"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int { return runContext(context.Background(), args) }

// runContext is run until parent ends or SIGINT/SIGTERM arrives.
func runContext(parent context.Context, args []string) int {
	fs := pflag.NewFlagSet("switchyard", pflag.ContinueOnError)
	configPath := fs.String("config", os.Getenv("SWITCHYARD_CONFIG"), "TOML configuration file ($SWITCHYARD_CONFIG)")
	check := fs.Bool("check-config", false, "validate the configuration and exit: 0 when valid")
	logFormat := fs.String("log-format", envOr("SWITCHYARD_LOG_FORMAT", "text"), "text or json ($SWITCHYARD_LOG_FORMAT)")
	runDemo := fs.Bool("demo", false, "run the built-in demo: two mock IMAP backends on loopback")
	demoIMAP := fs.String("demo-imap", "127.0.0.1:10143", "demo: IMAP (STARTTLS) listener address")
	demoIMAPS := fs.String("demo-imaps", "127.0.0.1:10993", "demo: IMAPS listener address")
	pprofOn := fs.Bool("pprof", false, "serve Go's profiler on the admin API under /debug/pprof/, behind the admin token ($SWITCHYARD_PPROF)")
	readyFile := fs.String("ready-file", os.Getenv("SWITCHYARD_READY_FILE"), "once every listener and the admin API listen, write their bound addresses there as JSON, atomically; removed at exit ($SWITCHYARD_READY_FILE)")
	over := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		hint := ""
		if *pprofOn {
			hint = " (--pprof takes no address: the profiler is served on the admin API)"
		}
		fmt.Fprintf(os.Stderr, "switchyard: unexpected argument %q%s\n", fs.Arg(0), hint)
		return 2
	}
	if !fs.Changed("pprof") {
		if v := os.Getenv("SWITCHYARD_PPROF"); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				fmt.Fprintf(os.Stderr, "switchyard: SWITCHYARD_PPROF=%q: want true or false (the profiler is served on the admin API, under /debug/pprof/, with the admin token)\n", v)
				return 2
			}
			*pprofOn = on
		}
	}

	var (
		cfg *config.Config
		err error
		d   *demo.Demo
	)
	switch {
	case *runDemo:
		if d, err = demo.Start(*demoIMAP, *demoIMAPS); err != nil {
			fmt.Fprintln(os.Stderr, "switchyard: demo:", err)
			return 1
		}
		defer d.Close()
		text, err := d.Config()
		if err == nil {
			cfg, err = config.Parse([]byte(text), "demo.toml")
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "switchyard: demo:", err)
			return 1
		}
	case *configPath != "":
		if cfg, err = config.Load(*configPath); err != nil {
			fmt.Fprintln(os.Stderr, "switchyard:", err)
			return 1
		}
	default:
		cfg = config.Default()
	}
	if err := over.Apply(cfg, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "switchyard:", err)
		return 1
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "switchyard: invalid configuration:\n"+indent(err.Error()))
		return 1
	}
	if *pprofOn && (cfg.Admin == nil || cfg.Admin.Bind == "") {
		fmt.Fprintln(os.Stderr, "switchyard: --pprof serves /debug/pprof/ on the admin API, behind its token: configure [admin]")
		return 1
	}
	if *check {
		fmt.Println("configuration is valid")
		return 0
	}

	level := new(slog.LevelVar)
	level.Set(app.ParseLevel(cfg.Server.LogLevel))
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, hopts)
	if *logFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, hopts)
	}
	log := slog.New(h)
	slog.SetDefault(log)

	a, err := app.New(cfg, log, level)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if *pprofOn {
		a.EnablePprof()
	}
	if *configPath != "" && d == nil {
		// SIGHUP and POST /config/reload read the file again, with the
		// same flags and environment on top.
		a.SetConfigSource(func() (*config.Config, error) {
			c, err := config.Load(*configPath)
			if err != nil {
				return nil, err
			}
			if err := over.Apply(c, os.Getenv); err != nil {
				return nil, err
			}
			if err := c.Validate(); err != nil {
				return nil, err
			}
			return c, nil
		})
	}
	ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			_ = a.Reload() // logged by the app: what applied, what failed
		}
	}()
	if d != nil {
		go func() {
			select {
			case <-a.Started():
				fmt.Fprint(os.Stderr, d.Instructions())
			case <-ctx.Done():
			}
		}()
	}
	var readyErr chan error
	if *readyFile != "" {
		readyErr = make(chan error, 1)
		go func() {
			select {
			case <-a.Ready():
			case <-ctx.Done():
				readyErr <- nil
				return
			}
			err := writeReadyFile(*readyFile, a)
			if err != nil {
				// Whoever waits for the file would wait forever.
				log.Error("cannot write --ready-file; stopping", "path", *readyFile, "err", err)
				cancel()
			}
			readyErr <- err
		}()
	}
	err = a.Run(ctx)
	if readyErr != nil {
		cancel()
		if rerr := <-readyErr; rerr != nil {
			return 1
		}
		_ = os.Remove(*readyFile)
	}
	if err != nil {
		log.Error("switchyard stopped", "err", err)
		return 1
	}
	return 0
}

// readyDoc is the --ready-file: where each listener and the admin API
// listen, with the ports the kernel chose for port 0.
type readyDoc struct {
	Listeners map[string][]string `json:"listeners"`
	Admin     string              `json:"admin,omitempty"`
}

// writeReadyFile writes the document beside path and renames it over
// path, so that a reader sees the whole file or none.
func writeReadyFile(path string, a *app.App) error {
	b, err := json.Marshal(readyDoc{Listeners: a.Bound(), Admin: a.AdminAddr()})
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
