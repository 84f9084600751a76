// Command switchyard is the multi-protocol e-mail proxy. It reads a TOML
// file (switchyard FILE, --config, $SWITCHYARD_CONFIG or the reference
// proxy's $PROXY_CONFIG), flags and SWITCHYARD_* environment variables,
// validates everything, then serves until SIGINT/SIGTERM. SIGHUP rereads
// the file and applies destinations, certificates, the log level and the
// mapping file without touching a session; other changes are logged as
// needing a restart. Under systemd (Type=notify) it reports readiness,
// reloads and shutdown. --ready-file reports the bound addresses (port 0
// in bind) once it serves.
//
// Exit status: 0 done (or the configuration is valid), 1 the
// configuration or the start failed, 2 the command line is wrong.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/config/overrides"
	"github.com/switchyard-mail/switchyard/config/printing"
	"github.com/switchyard-mail/switchyard/internal/app"
	"github.com/switchyard-mail/switchyard/internal/demo"
	"github.com/switchyard-mail/switchyard/internal/sdnotify"
	"github.com/switchyard-mail/switchyard/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int { return runContext(context.Background(), args) }

// runContext is run until parent ends or SIGINT/SIGTERM arrives.
func runContext(parent context.Context, args []string) int {
	return (&command{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}).run(parent, args)
}

// command is one invocation: where it writes and what environment it
// reads (tests give their own).
type command struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

const usageHead = `Usage:
  switchyard [flags] [FILE]            serve the configuration in FILE
  switchyard init [flags] DIR          write a starter configuration into DIR
  switchyard version                   print the version and exit
  switchyard completion bash           print the bash completion script

FILE may also be given with --config, $SWITCHYARD_CONFIG or $PROXY_CONFIG.
Every flag --x-y is also $SWITCHYARD_X_Y; the admin token comes from
$SWITCHYARD_ADMIN_TOKEN or $PROXY_ADMIN_TOKEN (never a flag).

Flags:
`

// flags are the command's own flags (overrides.RegisterFlags adds the ones
// that set configuration keys).
type flags struct {
	fs          *pflag.FlagSet
	over        *overrides.Overrides
	configPath  *string
	check       *bool
	printConfig *bool
	showVersion *bool
	logFormat   *string
	runDemo     *bool
	demoIMAP    *string
	demoIMAPS   *string
	pprofOn     *bool
	readyFile   *string
	initDir     *string
}

func (c *command) flagSet() *flags {
	fs := pflag.NewFlagSet("switchyard", pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and usage are printed here, once
	fs.SortFlags = false
	f := &flags{fs: fs}
	f.configPath = fs.String("config", "", "TOML configuration file ($SWITCHYARD_CONFIG, $PROXY_CONFIG; or give FILE)")
	f.check = fs.Bool("check-config", false, "validate the configuration and exit: 0 when valid")
	f.printConfig = fs.Bool("print-config", false, "print the effective configuration (file, flags, environment, defaults) with secrets masked, and exit")
	f.showVersion = fs.Bool("version", false, "print the version and exit")
	f.logFormat = fs.String("log-format", envOr(c.getenv, "SWITCHYARD_LOG_FORMAT", "text"), "text or json ($SWITCHYARD_LOG_FORMAT)")
	f.readyFile = fs.String("ready-file", c.getenv("SWITCHYARD_READY_FILE"), "once every listener and the admin API listen, write their bound addresses there as JSON, atomically; removed at exit ($SWITCHYARD_READY_FILE)")
	f.initDir = fs.String("init-dir", c.getenv("SWITCHYARD_INIT_DIR"), "when the configuration file does not exist, use DIR/switchyard.toml, written by switchyard init if missing (a container's first start) ($SWITCHYARD_INIT_DIR)")
	f.pprofOn = fs.Bool("pprof", false, "serve Go's profiler on the admin API under /debug/pprof/, behind the admin token ($SWITCHYARD_PPROF)")
	f.runDemo = fs.Bool("demo", false, "run the built-in demo: two mock IMAP backends on loopback")
	f.demoIMAP = fs.String("demo-imap", "127.0.0.1:10143", "demo: IMAP (STARTTLS) listener address")
	f.demoIMAPS = fs.String("demo-imaps", "127.0.0.1:10993", "demo: IMAPS listener address")
	f.over = overrides.RegisterFlags(fs)
	return f
}

func (c *command) usage(f *flags) {
	fmt.Fprint(c.stdout, usageHead+f.fs.FlagUsages())
}

// usageError reports a command-line mistake: the message, a hint, exit 2.
func (c *command) usageError(f *flags, err error) int {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		if s := suggest(f.fs, name); s != "" {
			msg += " (did you mean --" + s + "?)"
		}
	}
	fmt.Fprintf(c.stderr, "switchyard: %s\nRun 'switchyard --help' for the flags.\n", msg)
	return 2
}

func (c *command) run(parent context.Context, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			if len(args) > 1 {
				return c.usageError(c.flagSet(), fmt.Errorf("version takes no argument, got %q", args[1]))
			}
			fmt.Fprintln(c.stdout, version.Get().String())
			return 0
		case "init":
			return c.initCommand(args[1:])
		case "completion":
			return c.completion(args[1:])
		case "help":
			c.usage(c.flagSet())
			return 0
		}
	}
	f := c.flagSet()
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			c.usage(f)
			return 0
		}
		return c.usageError(f, err)
	}
	if *f.showVersion {
		fmt.Fprintln(c.stdout, version.Get().String())
		return 0
	}
	path, code := c.configFile(f)
	if code >= 0 {
		return code
	}
	if !f.fs.Changed("pprof") {
		if v := c.getenv("SWITCHYARD_PPROF"); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				fmt.Fprintf(c.stderr, "switchyard: SWITCHYARD_PPROF=%q: want true or false (the profiler is served on the admin API, under /debug/pprof/, with the admin token)\n", v)
				return 2
			}
			*f.pprofOn = on
		}
	}
	if *f.logFormat != "text" && *f.logFormat != "json" {
		return c.usageError(f, fmt.Errorf("--log-format %q: want text or json", *f.logFormat))
	}

	var (
		cfg *config.Config
		err error
		d   *demo.Demo
	)
	switch {
	case *f.runDemo:
		if d, err = demo.Start(*f.demoIMAP, *f.demoIMAPS); err != nil {
			fmt.Fprintln(c.stderr, "switchyard: demo:", err)
			return 1
		}
		defer d.Close()
		text, err := d.Config()
		if err == nil {
			cfg, err = config.Parse([]byte(text), "demo.toml")
		}
		if err != nil {
			fmt.Fprintln(c.stderr, "switchyard: demo:", err)
			return 1
		}
	case path != "":
		if cfg, err = config.Load(path); err != nil {
			fmt.Fprintln(c.stderr, "switchyard:", err)
			return 1
		}
	default:
		cfg = config.Default()
	}
	if err := f.over.Apply(cfg, c.getenv); err != nil {
		fmt.Fprintln(c.stderr, "switchyard:", err)
		return 1
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(c.stderr, "switchyard: invalid configuration:\n"+indent(err.Error()))
		if path == "" && !*f.runDemo {
			fmt.Fprintln(c.stderr, "No configuration file was given: pass FILE or --config, set $SWITCHYARD_CONFIG, or write one with 'switchyard init DIR'.")
		}
		return 1
	}
	if *f.pprofOn && (cfg.Admin == nil || cfg.Admin.Bind == "") {
		fmt.Fprintln(c.stderr, "switchyard: --pprof serves /debug/pprof/ on the admin API, behind its token: configure [admin]")
		return 1
	}
	if *f.printConfig {
		out, err := printing.MarshalRedacted(cfg)
		if err != nil {
			fmt.Fprintln(c.stderr, "switchyard:", err)
			return 1
		}
		src := path
		if src == "" {
			src = "no file"
		}
		fmt.Fprintf(c.stdout, "# switchyard effective configuration (%s, then flags and environment, then defaults); secrets masked\n%s", src, out)
		return 0
	}
	if *f.check {
		fmt.Fprintln(c.stdout, "configuration is valid")
		return 0
	}
	return c.serve(parent, f, cfg, path, d)
}

// configFile finds the configuration file: FILE, --config,
// $SWITCHYARD_CONFIG, $PROXY_CONFIG; with --init-dir, a missing one is
// replaced by a starter file there. code is the exit status when the
// command line is wrong (-1 otherwise).
func (c *command) configFile(f *flags) (path string, code int) {
	path = *f.configPath
	switch f.fs.NArg() {
	case 0:
	case 1:
		arg := f.fs.Arg(0)
		if *f.pprofOn && strings.Contains(arg, ":") {
			if _, err := os.Stat(arg); err != nil {
				fmt.Fprintf(c.stderr, "switchyard: unexpected argument %q (--pprof takes no address: the profiler is served on the admin API)\n", arg)
				return "", 2
			}
		}
		if f.fs.Changed("config") && path != arg {
			return "", c.usageError(f, fmt.Errorf("two configuration files: --config %q and %q", path, arg))
		}
		path = arg
	default:
		return "", c.usageError(f, fmt.Errorf("unexpected argument %q: one configuration FILE at most", f.fs.Arg(1)))
	}
	if path == "" {
		path = c.getenv("SWITCHYARD_CONFIG")
	}
	if path == "" {
		path = c.getenv("PROXY_CONFIG")
	}
	if *f.runDemo {
		return path, -1
	}
	file, init := config.PathOrInit(path, *f.initDir)
	if !init {
		return path, -1
	}
	if _, err := os.Stat(file); err == nil {
		return file, -1
	}
	bind := envOr(c.getenv, "SWITCHYARD_INIT_ADMIN_BIND", defaultAdminBind)
	files, err := writeStarter(initOptions{dir: *f.initDir, adminBind: bind})
	if err != nil {
		fmt.Fprintln(c.stderr, "switchyard: init:", err)
		return "", 1
	}
	fmt.Fprintf(c.stderr, "switchyard: no configuration at %q: wrote a starter one to %s (admin API on %s, token in %s)\n", path, files.config, bind, files.token)
	return files.config, -1
}

// serve runs switchyard until parent ends or a signal stops it.
func (c *command) serve(parent context.Context, f *flags, cfg *config.Config, path string, d *demo.Demo) int {
	level := new(slog.LevelVar)
	level.Set(app.ParseLevel(cfg.Server.LogLevel))
	hopts := &slog.HandlerOptions{Level: level, ReplaceAttr: secondsAttr}
	var h slog.Handler = slog.NewTextHandler(c.stderr, hopts)
	if *f.logFormat == "json" {
		h = slog.NewJSONHandler(c.stderr, hopts)
	}
	log := slog.New(h)
	slog.SetDefault(log)

	a, err := app.New(cfg, log, level)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if *f.pprofOn {
		a.EnablePprof()
	}
	a.SetConfigFile(path)
	if n, err := sdnotify.FromEnv(); err != nil {
		log.Warn("NOTIFY_SOCKET is unusable: systemd will not hear from switchyard", "err", err)
	} else {
		a.SetNotifier(n)
	}
	if path != "" && d == nil {
		// SIGHUP and POST /config/reload read the file again, with the
		// same flags and environment on top.
		a.SetConfigSource(func() (*config.Config, error) {
			cfg, err := config.Load(path)
			if err != nil {
				return nil, err
			}
			if err := f.over.Apply(cfg, c.getenv); err != nil {
				return nil, err
			}
			if err := cfg.Validate(); err != nil {
				return nil, err
			}
			return cfg, nil
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
				fmt.Fprint(c.stderr, d.Instructions())
			case <-ctx.Done():
			}
		}()
	}
	readyFile := *f.readyFile
	var readyErr chan error
	if readyFile != "" {
		readyErr = make(chan error, 1)
		go func() {
			select {
			case <-a.Ready():
			case <-ctx.Done():
				readyErr <- nil
				return
			}
			err := writeReadyFile(readyFile, a)
			if err != nil {
				// Whoever waits for the file would wait forever.
				log.Error("cannot write --ready-file; stopping", "path", readyFile, "err", err)
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
		_ = os.Remove(readyFile)
	}
	if err != nil {
		log.Error("switchyard stopped", "err", err)
		return 1
	}
	return 0
}

// secondsAttr writes durations as seconds (a number), in text and JSON
// alike: "duration=0.0125", never nanoseconds.
func secondsAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	}
	return a
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
	return writeFile(path, append(b, '\n'), 0o644)
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// suggest returns the flag closest to name, if one is close.
func suggest(fs *pflag.FlagSet, name string) string {
	best, bestD := "", 3
	fs.VisitAll(func(f *pflag.Flag) {
		if d := editDistance(name, f.Name); d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
