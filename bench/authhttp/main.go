// Command authhttp is a tiny authentication service for nginx's mail proxy
// (ngx_mail_auth_http_module), used by scripts/bench-peers.sh so that
// nginx routes every account by the same mapping file as switchyard.
//
// nginx sends one HTTP/1.0 request per login with the credentials in
// headers (Auth-User, Auth-Pass, Auth-Protocol, Auth-Login-Attempt, ...).
// This service answers from the headers only:
//
//	Auth-Status: OK
//	Auth-Server: <IP of the account's destination>
//	Auth-Port:   <its port>
//
// The password is not checked here (the backend checks it, as with
// switchyard and with Dovecot's proxy using nopassword=y) and is never
// logged. An account missing from the mapping goes to --default.
//
//	authhttp --listen 127.0.0.1:9000 --mapping map.txt \
//	    --dest old=127.0.0.1:1143 --dest new=127.0.0.1:2143 --default old
//
// The mapping file has switchyard's format: "identifier destination" per
// line, '#' starts a comment, blank lines are ignored.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

// backend is where nginx should connect: Auth-Server must be an IP
// address (nginx does not resolve it), Auth-Port a port number.
type backend struct {
	ip, port string
}

// router maps an account to its backend.
type router struct {
	accounts map[string]backend
	def      backend
}

func (r *router) lookup(user string) backend {
	if b, ok := r.accounts[user]; ok {
		return b
	}
	return r.def
}

// parseDest reads "name=ip:port".
func parseDest(s string) (string, backend, error) {
	name, addr, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return "", backend{}, fmt.Errorf("--dest %q: want name=ip:port", s)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", backend{}, fmt.Errorf("--dest %q: %v", s, err)
	}
	if net.ParseIP(host) == nil {
		return "", backend{}, fmt.Errorf("--dest %q: %q is not an IP address (nginx needs one)", s, host)
	}
	return name, backend{ip: host, port: port}, nil
}

// loadMapping reads "identifier destination" lines.
func loadMapping(r io.Reader, dests map[string]backend) (map[string]backend, error) {
	out := make(map[string]backend)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for no := 1; sc.Scan(); no++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 2 || strings.HasPrefix(f[1], "#") {
			return nil, fmt.Errorf("line %d: want \"identifier destination\"", no)
		}
		b, ok := dests[f[1]]
		if !ok {
			return nil, fmt.Errorf("line %d: destination %q is not declared with --dest", no, f[1])
		}
		out[f[0]] = b
	}
	return out, sc.Err()
}

// handler answers nginx's auth_http requests.
type handler struct {
	rt       *router
	requests atomic.Int64
}

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h.requests.Add(1)
	user := req.Header.Get("Auth-User")
	hd := w.Header()
	if user == "" {
		// No account: refuse, and let nginx close the connection.
		hd.Set("Auth-Status", "Invalid login or password")
		w.WriteHeader(http.StatusOK)
		return
	}
	b := h.rt.lookup(user)
	hd.Set("Auth-Status", "OK")
	hd.Set("Auth-Server", b.ip)
	hd.Set("Auth-Port", b.port)
	w.WriteHeader(http.StatusOK)
}

func run() error {
	fs := pflag.NewFlagSet("authhttp", pflag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "address to serve nginx's auth_http requests on")
	mapping := fs.String("mapping", "", "mapping file (\"identifier destination\" lines); empty: every account goes to --default")
	destFlags := fs.StringArray("dest", nil, "a destination as name=ip:port (repeat)")
	def := fs.String("default", "", "destination of accounts missing from the mapping")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	dests := make(map[string]backend)
	for _, d := range *destFlags {
		name, b, err := parseDest(d)
		if err != nil {
			return err
		}
		dests[name] = b
	}
	rt := &router{accounts: map[string]backend{}}
	var ok bool
	if rt.def, ok = dests[*def]; !ok {
		return fmt.Errorf("--default %q: not declared with --dest", *def)
	}
	if *mapping != "" {
		f, err := os.Open(*mapping)
		if err != nil {
			return err
		}
		rt.accounts, err = loadMapping(f, dests)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %v", *mapping, err)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	h := &handler{rt: rt}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	log.Printf("authhttp listening on %s (%d mapped accounts, default %s:%s)", ln.Addr(), len(rt.accounts), rt.def.ip, rt.def.port)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	log.Printf("authhttp: %d requests answered", h.requests.Load())
	return nil
}

func main() {
	log.SetFlags(0)
	if err := run(); err != nil {
		log.Printf("authhttp: %v", err)
		os.Exit(1)
	}
}
