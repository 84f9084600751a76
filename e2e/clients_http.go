//go:build linux

package e2e

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
)

// HTTPRequest is one request of a curl run.
type HTTPRequest struct {
	URL string
	// Method is curl's -X (HEAD: --head); empty leaves curl's choice
	// (GET, POST with Body, PUT with Upload).
	Method string
	// User is "login:password" for Basic authentication (-u).
	User string
	// Bearer is sent as "Authorization: Bearer <Bearer>".
	Bearer  string
	Headers []string // extra "Name: value" lines
	// Body is sent with --data-binary (POST unless Method says otherwise).
	Body string
	// Upload is a file PUT with -T.
	Upload string
}

// CurlOptions apply to every request of a curl run.
type CurlOptions struct {
	// HTTP selects the version curl asks for: "1.1" (--http1.1, the
	// default) or "2" (--http2: ALPN h2 over TLS, an h2c upgrade offer on
	// plain connections; curl falls back to HTTP/1.1 if refused).
	HTTP string
	// CACert is the certificate to trust for https:// URLs.
	CACert string
	// Source is the local address to connect from (--interface).
	Source string
	// Timeout bounds each request (default 15s).
	Timeout time.Duration
	// Expect100Timeout is how long curl waits for "100 Continue" before
	// it sends a body anyway (--expect100-timeout; curl's default 1s).
	Expect100Timeout time.Duration
}

// HTTPResponse is what curl got for one request.
type HTTPResponse struct {
	Status int
	// Version is curl's %{http_version}: "1.1", "2", ...
	Version string
	// NumConnects is how many new connections curl opened for this
	// request: 0 means it reused the previous request's connection.
	NumConnects int
	Header      textproto.MIMEHeader // the final response's fields
	Body        string               // empty for HEAD
}

// Field returns "key=value" line key of an /echo body (see
// StartHTTPBackend), and whether it was there.
func (r HTTPResponse) Field(key string) (string, bool) {
	for _, l := range strings.Split(r.Body, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

func (o CurlOptions) timeout() time.Duration { return timeoutOr(o.Timeout, 15*time.Second) }

// curlWriteOut is one line per request on stdout, after the request.
const curlWriteOut = "sy-curl %{http_code} %{num_connects} %{http_version}\n"

// curlArgs are curl's options for o's CA certificate and source address.
func (o CurlOptions) curlArgs() []string {
	var args []string
	if o.CACert != "" {
		args = append(args, "--cacert", o.CACert)
	}
	if o.Source != "" {
		args = append(args, "--interface", o.Source)
	}
	return args
}

// curlArgs are curl's options for r's credentials and extra headers.
func (r HTTPRequest) curlArgs() []string {
	var args []string
	if r.User != "" {
		args = append(args, "-u", r.User)
	}
	if r.Bearer != "" {
		args = append(args, "-H", "Authorization: Bearer "+r.Bearer)
	}
	for _, h := range r.Headers {
		args = append(args, "-H", h)
	}
	return args
}

// CurlHTTP runs one curl process for all reqs, joined with --next, so
// that curl keeps one connection alive across them when it can (each
// response's NumConnects tells). It returns the responses and curl's
// verbose output (stderr), or an error when curl failed or printed fewer
// results than requests.
func CurlHTTP(t testing.TB, o CurlOptions, reqs ...HTTPRequest) ([]HTTPResponse, string, error) {
	t.Helper()
	curl := harness.RequireBinary(t, "curl")
	dir := t.TempDir()
	var args []string
	for i, r := range reqs {
		if i > 0 {
			args = append(args, "--next")
		}
		args = append(args, "-sS", "-v", "--max-time", strconv.Itoa(int(o.timeout().Seconds())),
			"-o", filepath.Join(dir, fmt.Sprintf("body-%d", i)),
			"-D", filepath.Join(dir, fmt.Sprintf("head-%d", i)),
			"-w", curlWriteOut)
		switch o.HTTP {
		case "", "1.1":
			args = append(args, "--http1.1")
		case "2":
			args = append(args, "--http2")
		default:
			t.Fatalf("CurlOptions.HTTP %q: want \"1.1\" or \"2\"", o.HTTP)
		}
		args = append(args, o.curlArgs()...)
		if o.Expect100Timeout > 0 {
			args = append(args, "--expect100-timeout", strconv.FormatFloat(o.Expect100Timeout.Seconds(), 'f', -1, 64))
		}
		switch r.Method {
		case "":
		case "HEAD":
			args = append(args, "--head") // -X HEAD would wait for a body
		default:
			args = append(args, "-X", r.Method)
		}
		args = append(args, r.curlArgs()...)
		if r.Body != "" {
			f := filepath.Join(dir, fmt.Sprintf("send-%d", i))
			if err := os.WriteFile(f, []byte(r.Body), 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--data-binary", "@"+f)
		}
		if r.Upload != "" {
			args = append(args, "-T", r.Upload)
		}
		args = append(args, "--url", r.URL)
	}
	stdout, stderr, err := harness.RunBounded(time.Duration(len(reqs))*o.timeout()+5*time.Second, nil, curl, args...)
	var out []HTTPResponse
	for i, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "sy-curl" {
			return out, stderr, fmt.Errorf("curl: unexpected output line %q", line)
		}
		var r HTTPResponse
		r.Status, _ = strconv.Atoi(f[1])
		r.NumConnects, _ = strconv.Atoi(f[2])
		r.Version = f[3]
		if i < len(reqs) && reqs[i].Method != "HEAD" { // curl --head writes the head there
			body, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("body-%d", i)))
			r.Body = string(body)
		}
		r.Header = lastHead(filepath.Join(dir, fmt.Sprintf("head-%d", i)))
		out = append(out, r)
	}
	if err != nil {
		return out, stderr, fmt.Errorf("curl: %v: %s", err, lastLines(stderr, 8))
	}
	if len(out) != len(reqs) {
		return out, stderr, fmt.Errorf("curl: %d results for %d requests: %s", len(out), len(reqs), lastLines(stderr, 8))
	}
	return out, stderr, nil
}

// CurlOne is CurlHTTP for one request; it fails t when curl fails.
func CurlOne(t testing.TB, o CurlOptions, r HTTPRequest) HTTPResponse {
	t.Helper()
	res, verbose, err := CurlHTTP(t, o, r)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", cmp.Or(r.Method, "GET"), r.URL, err, verbose)
	}
	return res[0]
}

// lastHead parses the last response head of a curl -D file (after any
// 1xx heads).
func lastHead(path string) textproto.MIMEHeader {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	heads := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n\n")
	last := ""
	for _, h := range heads {
		if strings.TrimSpace(h) != "" {
			last = h
		}
	}
	_, fields, _ := strings.Cut(last, "\n")
	r := textproto.NewReader(bufio.NewReader(strings.NewReader(fields + "\n\n")))
	h, _ := r.ReadMIMEHeader()
	return h
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// SSEEvent is one server-sent event as a client saw it.
type SSEEvent struct {
	ID   string
	Data string
	At   time.Time // when its terminating blank line arrived
}

// CurlSSE reads a text/event-stream with curl -N (no output buffering),
// timestamping each event as its blank line arrives, until the server
// ends the response or timeout passes. onEvent, if not nil, sees each
// event as it arrives (to acknowledge a lock-step stream: SSEAck).
func CurlSSE(t testing.TB, o CurlOptions, r HTTPRequest, timeout time.Duration, onEvent func(SSEEvent)) ([]SSEEvent, error) {
	t.Helper()
	curl := harness.RequireBinary(t, "curl")
	args := []string{"-sS", "-N", "--fail", "--max-time", strconv.Itoa(int(timeout.Seconds()) + 1), "--http1.1",
		"-H", "Accept: text/event-stream"}
	args = append(args, o.curlArgs()...)
	args = append(args, r.curlArgs()...)
	args = append(args, "--url", r.URL)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+2*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, curl, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var events []SSEEvent
	var cur SSEEvent
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.ID != "" || cur.Data != "" {
				cur.At = time.Now()
				events = append(events, cur)
				if onEvent != nil {
					onEvent(cur)
				}
			}
			cur = SSEEvent{}
		case strings.HasPrefix(line, "id:"):
			cur.ID = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
		case strings.HasPrefix(line, "data:"):
			if cur.Data != "" {
				cur.Data += "\n"
			}
			cur.Data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return events, fmt.Errorf("curl -N did not finish within %v (%d events so far)", timeout, len(events))
	}
	if werr != nil {
		return events, fmt.Errorf("curl -N: %v: %s", werr, strings.TrimSpace(stderr.String()))
	}
	return events, nil
}

// WSMessage is one WebSocket message the client received.
type WSMessage struct {
	Type string `json:"type"` // "text" or "binary"
	Text string `json:"text,omitempty"`
	Hex  string `json:"hex,omitempty"` // binary payload
}

// WSSession is what the WebSocket client does: connect (with Headers in
// the handshake), read the server's first message, send each of Texts and
// Binaries and read one reply to each, ping, close.
type WSSession struct {
	URL      string // ws:// or wss://
	Headers  []string
	Texts    []string
	Binaries [][]byte
	CAFile   string // for wss://
	Source   string // local address
	Timeout  time.Duration
}

// WSResult is what the client saw.
type WSResult struct {
	OK        bool        `json:"ok"`
	Stage     string      `json:"stage"` // where it stopped
	Error     string      `json:"error"`
	Status    int         `json:"status"` // handshake status when refused
	Received  []WSMessage `json:"received"`
	Pong      bool        `json:"pong"`
	CloseCode int         `json:"close_code"`
	Output    string      `json:"-"`
}

// wsClientPy is the WebSocket client: the python3-websockets library
// (Debian's 10.x asyncio API).
const wsClientPy = `
import argparse, asyncio, json, ssl, sys
import websockets

p = argparse.ArgumentParser()
p.add_argument("--url", required=True)
p.add_argument("--header", action="append", default=[])
p.add_argument("--text", action="append", default=[])
p.add_argument("--binary-hex", action="append", default=[])
p.add_argument("--cafile")
p.add_argument("--source")
p.add_argument("--timeout", type=float, default=10)
a = p.parse_args()

def show(m):
    if isinstance(m, bytes):
        return {"type": "binary", "hex": m.hex()}
    return {"type": "text", "text": m}

async def main():
    out = {"ok": False, "stage": "connect", "error": "", "status": 0, "received": [], "pong": False, "close_code": 0}
    try:
        kw = {}
        if a.url.startswith("wss:"):
            kw["ssl"] = ssl.create_default_context(cafile=a.cafile)
        if a.source:
            kw["local_addr"] = (a.source, 0)
        headers = [tuple(x.strip() for x in h.split(":", 1)) for h in a.header]
        ws = await websockets.connect(a.url, extra_headers=headers, open_timeout=a.timeout,
                                      close_timeout=a.timeout, **kw)
        try:
            out["stage"] = "greeting"
            out["received"].append(show(await asyncio.wait_for(ws.recv(), a.timeout)))
            for t in a.text:
                out["stage"] = "text"
                await ws.send(t)
                out["received"].append(show(await asyncio.wait_for(ws.recv(), a.timeout)))
            for b in a.binary_hex:
                out["stage"] = "binary"
                await ws.send(bytes.fromhex(b))
                out["received"].append(show(await asyncio.wait_for(ws.recv(), a.timeout)))
            out["stage"] = "ping"
            waiter = await ws.ping(b"switchyard")
            await asyncio.wait_for(waiter, a.timeout)
            out["pong"] = True
            out["stage"] = "close"
        finally:
            await ws.close()
        out["close_code"] = ws.close_code
        out["ok"] = True
    except websockets.exceptions.InvalidStatusCode as e:
        out["status"] = e.status_code
        out["error"] = "%s: %s" % (type(e).__name__, e)
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out))

asyncio.run(main())
`

var (
	wsPyOnce   sync.Once
	wsPyBin    string
	wsPyScript string
	wsPyErr    error
)

// wsPython finds a python3 that can import websockets (Debian's
// python3-websockets lives in /usr/bin/python3's dist-packages, which a
// python3 earlier in $PATH may not see) and writes the client script.
func wsPython(t testing.TB) (string, string) {
	t.Helper()
	wsPyOnce.Do(func() {
		var cands []string
		if p, err := harness.LookBinary("python3"); err == nil {
			cands = append(cands, p)
		}
		cands = append(cands, "/usr/bin/python3")
		for _, c := range cands {
			if _, _, err := harness.RunBounded(10*time.Second, nil, c, "-c", "import websockets"); err == nil {
				wsPyBin = c
				break
			}
		}
		if wsPyBin == "" {
			wsPyErr = fmt.Errorf("no python3 can import websockets (tried %s): install python3-websockets", strings.Join(cands, ", "))
			return
		}
		wsPyScript, wsPyErr = writeRunFile("sy-ws-", "wsclient.py", []byte(wsClientPy))
	})
	if wsPyErr != nil {
		if os.Getenv(harness.EnvRequire) == "1" {
			t.Fatalf("%v (required because %s=1)", wsPyErr, harness.EnvRequire)
		}
		t.Skipf("%v (set %s=1 to make this a failure)", wsPyErr, harness.EnvRequire)
	}
	return wsPyBin, wsPyScript
}

// PythonWebSocket runs the python3-websockets client for s. It returns an
// error when the client did not get through every step.
func PythonWebSocket(t testing.TB, s WSSession) (WSResult, error) {
	t.Helper()
	py, script := wsPython(t)
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	args := []string{script, "--url", s.URL, "--timeout", fmt.Sprint(timeout.Seconds() / 2)}
	for _, h := range s.Headers {
		args = append(args, "--header", h)
	}
	for _, m := range s.Texts {
		args = append(args, "--text", m)
	}
	for _, b := range s.Binaries {
		args = append(args, "--binary-hex", hex.EncodeToString(b))
	}
	if s.CAFile != "" {
		args = append(args, "--cafile", s.CAFile)
	}
	if s.Source != "" {
		args = append(args, "--source", s.Source)
	}
	stdout, stderr, err := harness.RunBounded(timeout+5*time.Second, nil, py, args...)
	var res WSResult
	if jerr := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &res); jerr != nil {
		return WSResult{Output: stdout + stderr}, fmt.Errorf("websocket client: no result (%v, run error %v): %s%s", jerr, err, stdout, stderr)
	}
	res.Output = stdout + stderr
	if !res.OK {
		return res, fmt.Errorf("websocket client failed at %s: %s", res.Stage, res.Error)
	}
	return res, nil
}

// Bearer tokens. Neither is signed by anyone: switchyard reads the
// account out of a token without verifying it (the backend does that).

// UnsignedJWT is a JWS compact token with claims and a random "HS256"
// signature: it parses as a JWT but no key would verify it.
func UnsignedJWT(claims map[string]any) string {
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	body, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 32)
	_, _ = rand.Read(sig)
	return enc.EncodeToString(hdr) + "." + enc.EncodeToString(body) + "." + enc.EncodeToString(sig)
}

// StalwartToken is a Stalwart access token in its sw1 layout,
// "sw1.<base64url(nonce || sealed claims || tag)>.<base64url(account)>",
// with random bytes where Stalwart's server key would have sealed the
// claims: the account in the clear footer is all a proxy can read.
func StalwartToken(account string) string {
	body := make([]byte, 12+40+16)
	_, _ = rand.Read(body)
	enc := base64.RawURLEncoding
	return "sw1." + enc.EncodeToString(body) + "." + enc.EncodeToString([]byte(account))
}
