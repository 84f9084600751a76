//go:build linux

package peers

import (
	"bufio"
	"crypto/sha1" //nolint:gosec // RFC 6455 mandates SHA-1 for Sec-WebSocket-Accept
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
)

// HTTPBackend is one HTTP backend started by a test: an nginx (WebDAV,
// a static marker, a header echo) in front of an in-process companion
// server that does what nginx cannot do on its own (WebSocket echo,
// server-sent events). nginx proxies /ws and /events to the companion, so
// a client always talks to nginx.
type HTTPBackend struct {
	Name string
	Dir  string
	Conf string
	// DAVDir is where nginx stores what is PUT under /dav/ (the URL path
	// /dav/x is the file DAVDir/x).
	DAVDir string
	// AccessLog is nginx's access log (format "sy", see config).
	AccessLog string

	// Addr is nginx's plain HTTP/1.1 listener.
	Addr string
	// ProxyAddr is the same server on a listener that requires a PROXY
	// v1/v2 header (nginx `listen ... proxy_protocol`); /echo shows the
	// address the header claimed as pp=.
	ProxyAddr string
	// CompanionAddr is the companion server, for tests that want it
	// without nginx.
	CompanionAddr string

	Proc      *harness.Process
	companion *httpCompanion
}

// The companion's SSE stream: SSEEvents events, SSEInterval apart.
const (
	SSEEvents   = 5
	SSEInterval = 200 * time.Millisecond
)

// WSGreeting is the first text message the companion sends after the
// handshake, before the client says anything.
func WSGreeting(backend string) string { return "hello from " + backend }

// WSEcho is the companion's answer to a text message.
func WSEcho(backend, msg string) string { return backend + " echo: " + msg }

// WSEchoBinary is the companion's answer to a binary message.
func WSEchoBinary(backend string, msg []byte) []byte {
	return append([]byte(backend+":"), msg...)
}

// StartHTTPBackend starts the companion and an nginx for backend name
// (`nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'`, one process, no
// master, its own temp directories and logs). It is stopped when the test
// ends.
//
// nginx serves:
//
//	/whoami              static file holding "<name>\n"
//	/dav/...             WebDAV: PUT DELETE MKCOL COPY MOVE into DAVDir
//	.../echo             (any path ending in /echo) 200 with what the
//	                     request carried: backend, method, uri, remote,
//	                     pp (PROXY address), xff, forwarded, xfproto,
//	                     authorization, x-account, te (Transfer-Encoding),
//	                     length (Content-Length), conn (nginx's
//	                     connection number); one "key=value" a line
//	.../close/echo       the same, then nginx closes the connection
//	                     (keepalive_timeout 0: "Connection: close")
//	/ws                  WebSocket echo (companion)
//	/events              text/event-stream, SSEEvents events (companion)
func StartHTTPBackend(t testing.TB, name string) *HTTPBackend {
	t.Helper()
	bin := harness.RequireBinary(t, "nginx")
	b := &HTTPBackend{Name: name, Dir: harness.ShortTempDir(t, "web-"+name)}
	b.Conf = filepath.Join(b.Dir, "nginx.conf")
	b.AccessLog = filepath.Join(b.Dir, "access.log")
	www := filepath.Join(b.Dir, "www")
	b.DAVDir = filepath.Join(www, "dav")
	for _, d := range []string{b.DAVDir, filepath.Join(b.Dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(www, "whoami"), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	c, err := startHTTPCompanion(name)
	if err != nil {
		t.Fatalf("companion of %s: %v", name, err)
	}
	t.Cleanup(c.Close)
	b.companion = c
	b.CompanionAddr = c.Addr

	// nginx opens its compiled-in error log before reading the
	// configuration unless -e says otherwise.
	errorLog := filepath.Join(b.Dir, "error.log")
	b.Proc = harness.NewProcess(t, b.Dir, "nginx-"+name+"-stdout", bin,
		"-p", b.Dir, "-c", b.Conf, "-e", errorLog, "-g", "daemon off;")
	harness.TailOnFailure(t, 30, errorLog, b.AccessLog)
	harness.StartDaemon(t, b.Proc, func() ([]string, error) {
		b.Addr, b.ProxyAddr = harness.CandidateAddr(t), harness.CandidateAddr(t)
		return []string{b.Addr, b.ProxyAddr}, os.WriteFile(b.Conf, []byte(b.config()), 0o644)
	}, errorLog)
	return b
}

func (b *HTTPBackend) config() string {
	// nginx does not want to run workers as root unless told to; the
	// DAV directory belongs to whoever runs the test.
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n"
	}
	tmp := filepath.Join(b.Dir, "tmp")
	echo := strings.Join([]string{
		"backend=" + b.Name,
		"method=$request_method",
		"uri=$request_uri",
		"remote=$remote_addr",
		"pp=$proxy_protocol_addr",
		"xff=$http_x_forwarded_for",
		"forwarded=$http_forwarded",
		"xfproto=$http_x_forwarded_proto",
		"authorization=$http_authorization",
		"x-account=$http_x_account",
		"te=$http_transfer_encoding",
		"length=$content_length",
		"conn=$connection",
	}, `\n`) + `\n`
	return fmt.Sprintf(`# Generated by switchyard's e2e harness (backend %[1]s).
%[2]smaster_process off;
worker_processes 1;
pid %[3]s/nginx.pid;
error_log %[3]s/error.log info;

events {
    worker_connections 512;
}

http {
    log_format sy '$remote_addr "$request" $status conn=$connection req=$connection_requests xff="$http_x_forwarded_for" pp="$proxy_protocol_addr"';
    access_log %[3]s/access.log sy;
    client_body_temp_path %[4]s/body;
    proxy_temp_path %[4]s/proxy;
    fastcgi_temp_path %[4]s/fastcgi;
    uwsgi_temp_path %[4]s/uwsgi;
    scgi_temp_path %[4]s/scgi;
    default_type text/plain;
    keepalive_timeout 60s;
    keepalive_requests 1000;

    server {
        listen %[5]s;
        listen %[6]s proxy_protocol;
        root %[3]s/www;

        location = /whoami {
        }
        location /dav/ {
            dav_methods PUT DELETE MKCOL COPY MOVE;
            create_full_put_path on;
            dav_access user:rw group:rw all:r;
            client_max_body_size 16m;
        }
        location ~ ^/(.*/)?close/echo$ {
            keepalive_timeout 0;
            return 200 "%[7]s";
        }
        location ~ ^/(.*/)?echo$ {
            return 200 "%[7]s";
        }
        location /ws {
            proxy_pass http://%[8]s;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 30s;
            proxy_buffering off;
        }
        location /events {
            proxy_pass http://%[8]s;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 30s;
        }
    }
}
`, b.Name, user, b.Dir, tmp, b.Addr, b.ProxyAddr, echo, b.CompanionAddr)
}

// Stop stops nginx (SIGTERM to its PID) and waits until its port refuses
// connections. The companion keeps running.
func (b *HTTPBackend) Stop(t testing.TB) {
	t.Helper()
	harness.StopDaemon(t, b.Proc, "nginx "+b.Name, b.Addr)
}

// Restart starts a stopped nginx again on the same ports and data.
func (b *HTTPBackend) Restart(t testing.TB) {
	t.Helper()
	harness.RestartDaemon(t, b.Proc, []string{b.Addr, b.ProxyAddr})
}

// DAVFile reads what nginx stored for URL path /dav/<rel>.
func (b *HTTPBackend) DAVFile(rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(b.DAVDir, filepath.FromSlash(rel)))
}

// AccessLogLines returns the access log lines whose request line contains
// substr.
func (b *HTTPBackend) AccessLogLines(substr string) []string {
	data, _ := os.ReadFile(b.AccessLog)
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" && strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// WSHandshakes is how many WebSocket handshakes the companion completed.
func (b *HTTPBackend) WSHandshakes() int { return b.companion.handshakes() }

// httpCompanion is the in-process WebSocket echo and SSE server behind an
// HTTPBackend's nginx.
type httpCompanion struct {
	Name string
	Addr string

	srv *http.Server
	ln  net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // hijacked WebSocket connections
	wsDone int
	steps  map[string]chan struct{} // lock-step event streams by key
}

func startHTTPCompanion(name string) (*httpCompanion, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &httpCompanion{Name: name, Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}, steps: map[string]chan struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", c.serveWS)
	mux.HandleFunc("/events", c.serveEvents)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

// Close stops the server and every hijacked connection.
func (c *httpCompanion) Close() {
	_ = c.srv.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn := range c.conns {
		conn.Close()
	}
}

func (c *httpCompanion) handshakes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wsDone
}

// step returns the gate of lock-step stream key (made by whichever of
// the stream and the client's acknowledgement comes first).
func (c *httpCompanion) step(key string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.steps[key]
	if ch == nil {
		ch = make(chan struct{}, SSEEvents)
		c.steps[key] = ch
	}
	return ch
}

// SSEAck tells lock-step stream key (the "step" query parameter of
// /events) that its client has received the latest event: the companion
// sends the next one. A key no stream of this backend uses is harmless.
func (b *HTTPBackend) SSEAck(key string) {
	select {
	case b.companion.step(key) <- struct{}{}:
	default:
	}
}

// serveEvents sends SSEEvents events, each flushed on its own:
// "id: <n>" and "data: <backend> <n> <unix ms when sent>". With
// ?step=KEY the next event goes out only once SSEAck(KEY) says the client
// got the previous one, so a proxy that held the stream back would stall
// it (no clock involved); without, they are SSEInterval apart.
func (c *httpCompanion) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no flusher", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	var next <-chan struct{}
	if key := r.URL.Query().Get("step"); key != "" {
		next = c.step(key)
	}
	for n := 1; n <= SSEEvents; n++ {
		if n > 1 {
			var tick <-chan time.Time // nil (never) in lock step, as next is otherwise
			if next == nil {
				tick = time.After(SSEInterval)
			}
			select {
			case <-r.Context().Done():
				return
			case <-next:
			case <-tick:
			}
		}
		fmt.Fprintf(w, "id: %d\ndata: %s %d %d\n\n", n, c.Name, n, time.Now().UnixMilli())
		fl.Flush()
	}
}

// wsGUID is RFC 6455's magic string for Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// serveWS is a minimal RFC 6455 server: the opening handshake, then a
// greeting, then an echo of every text and binary message, pong for ping,
// and the closing handshake. Client frames must be masked.
func (c *httpCompanion) serveWS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !headerHasToken(r.Header, "Connection", "upgrade") ||
		!headerHasToken(r.Header, "Upgrade", "websocket") || r.Header.Get("Sec-WebSocket-Version") != "13" {
		http.Error(w, "not a WebSocket handshake", http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		http.Error(w, "bad Sec-WebSocket-Key", http.StatusBadRequest)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	c.mu.Lock()
	c.conns[conn] = struct{}{}
	c.wsDone++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.conns, conn)
		c.mu.Unlock()
		conn.Close()
	}()
	// Bounded: a test never keeps a WebSocket open this long.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	sum := sha1.Sum([]byte(key + wsGUID)) //nolint:gosec // RFC 6455
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	if err := writeWSFrame(rw.Writer, wsText, []byte(WSGreeting(c.Name))); err != nil {
		return
	}
	if err := rw.Flush(); err != nil {
		return
	}
	var msg []byte
	msgOp := byte(0)
	for {
		fin, op, payload, err := readWSFrame(rw.Reader)
		if err != nil {
			return
		}
		switch op {
		case wsPing:
			err = writeWSFrame(rw.Writer, wsPong, payload)
		case wsPong:
		case wsClose:
			_ = writeWSFrame(rw.Writer, wsClose, payload)
			_ = rw.Flush()
			return
		case wsText, wsBinary, wsContinuation:
			if op != wsContinuation {
				msgOp, msg = op, nil
			}
			msg = append(msg, payload...)
			if !fin {
				continue
			}
			if msgOp == wsText {
				err = writeWSFrame(rw.Writer, wsText, []byte(WSEcho(c.Name, string(msg))))
			} else {
				err = writeWSFrame(rw.Writer, wsBinary, WSEchoBinary(c.Name, msg))
			}
		default:
			return
		}
		if err == nil {
			err = rw.Flush()
		}
		if err != nil {
			return
		}
	}
}

// WebSocket opcodes (RFC 6455 5.2).
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xA
)

// wsMaxPayload bounds what the companion accepts in one frame.
const wsMaxPayload = 1 << 20

// readWSFrame reads one masked client frame.
func readWSFrame(r *bufio.Reader) (fin bool, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0f
	if h[0]&0x70 != 0 {
		return false, 0, nil, errors.New("websocket: reserved bits set")
	}
	if h[1]&0x80 == 0 {
		return false, 0, nil, errors.New("websocket: unmasked client frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err = io.ReadFull(r, ext[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err = io.ReadFull(r, ext[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > wsMaxPayload {
		return false, 0, nil, fmt.Errorf("websocket: frame of %d bytes", n)
	}
	var mask [4]byte
	if _, err = io.ReadFull(r, mask[:]); err != nil {
		return
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	return fin, op, payload, nil
}

// writeWSFrame writes one unmasked, unfragmented server frame.
func writeWSFrame(w *bufio.Writer, op byte, payload []byte) error {
	h := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		h = append(h, byte(n))
	case n <= 0xffff:
		h = append(h, 126, byte(n>>8), byte(n))
	default:
		h = append(h, 127)
		h = binary.BigEndian.AppendUint64(h, uint64(n))
	}
	if _, err := w.Write(h); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// headerHasToken reports whether a comma-separated header names token
// (case-insensitively).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, e := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(e), token) {
				return true
			}
		}
	}
	return false
}
