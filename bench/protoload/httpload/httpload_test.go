package httpload

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/internal/benchtest"
	"github.com/switchyard-mail/switchyard/bench/mockhttp"
	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/bench/protoload"
)

func TestJMAPBody(t *testing.T) {
	for _, n := range []int{300, 1000, 4096} {
		b := JMAPBody(n)
		var v map[string]any
		if len(b) != n || json.Unmarshal(b, &v) != nil || v["methodCalls"] == nil {
			t.Fatalf("size %d: %d bytes, %s", n, len(b), b)
		}
	}
	if len(JMAPBody(0)) > DefaultBodySize {
		t.Fatalf("bare request %d bytes is above the default body size", len(JMAPBody(0)))
	}
}

func TestHTTPAgainstMock(t *testing.T) {
	users := map[string]string{"u0": "pw", "u1": "pw", "u2": "pw"}
	s := benchtest.Listen(t, mockhttp.Listen, mockhttp.Config{Name: "m", Users: users})
	accts := imapload.Accounts("u", 3, "pw")
	for _, perConn := range []int{0, 7} {
		res, err := RunHTTP(context.Background(), HTTPOptions{Target: s.Addr(), Accounts: accts, PerConnection: perConn, Run: protoload.Run{Concurrency: 3, Count: 200, Linger: 200 * time.Millisecond, Timeline: 50 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Ops != 200 || res.Errors != 0 || res.Statuses["200"] != 200 || res.Backends["m"] != 200 || res.Latency.Count != 200 {
			t.Fatalf("per-connection %d: %+v", perConn, res)
		}
		// Which workers got to dial before the count ran out is the
		// scheduler's business: without a per-connection limit each
		// keeps one connection, with 7 a connection carries at most 7.
		if perConn == 0 && (res.Connections < 1 || res.Connections > 3) || perConn == 7 && res.Connections < 200/7 {
			t.Fatalf("per-connection %d: %d connections", perConn, res.Connections)
		}
		var sb strings.Builder
		res.WriteText(&sb)
		if !strings.Contains(sb.String(), "200 ok, 0 failed") || !strings.Contains(sb.String(), "backends        m 200") {
			t.Fatalf("table:\n%s", sb.String())
		}
	}
	// Wrong passwords: every request is a counted 401 and the connection
	// is kept.
	res, err := RunHTTP(context.Background(), HTTPOptions{Target: s.Addr(), Accounts: imapload.Accounts("u", 3, "bad"), Run: protoload.Run{Count: 20}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 0 || res.Errors != 20 || res.Connections != 1 || len(res.ErrorsByKind) != 1 || res.ErrorsByKind[0].Kind != "status: 401" {
		t.Fatalf("401s: %+v", res)
	}
}

func TestHTTPTLS(t *testing.T) {
	tc, _, err := mockimap.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	s := benchtest.Listen(t, mockhttp.Listen, mockhttp.Config{Name: "t", TLS: tc})
	res, err := RunHTTP(context.Background(), HTTPOptions{Target: s.Addr(), TLS: imapload.TLSImplicit,
		TLSConfig: &tls.Config{InsecureSkipVerify: true}, Accounts: imapload.Accounts("u", 2, "pw"), Run: protoload.Run{Concurrency: 2, Count: 50}})
	if err != nil {
		t.Fatal(err)
	}
	// What a user sees: every request answered by the TLS-only server,
	// each connection after its handshake, and no more connections than
	// workers (how many workers dialed before the 50 were taken is up to
	// the scheduler).
	if res.Ops != 50 || res.Errors != 0 || res.Statuses["200"] != 50 || res.Backends["t"] != 50 || s.Requests() != 50 {
		t.Fatalf("%+v", res)
	}
	if n := res.Connections; n < 1 || n > 2 || int64(res.Phases["tls"].Count) != n {
		t.Fatalf("%d connections, %d TLS handshakes", n, res.Phases["tls"].Count)
	}
}

// A server of its own: chunked bodies, HTTP/1.0 close, a 503 with
// Connection: close, and garbage.
func TestHTTPResponseShapes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answers := []string{
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\n{\"backend\":\"chunk\"}",
		"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nto the close",
		"SMTP 220 hello\r\n",
	}
	go func() {
		for i := 0; i < 100; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				buf := make([]byte, 4096)
				for _, a := range answers {
					if _, err := c.Read(buf); err != nil {
						return
					}
					c.Write([]byte(a))
					if strings.Contains(a, "close") || strings.HasPrefix(a, "HTTP/1.0") || strings.HasPrefix(a, "SMTP") {
						return
					}
				}
			}(c)
		}
	}()
	res, err := RunHTTP(context.Background(), HTTPOptions{Target: ln.Addr().String(), Accounts: imapload.Accounts("u", 1, "pw"), Run: protoload.Run{Count: 5}})
	if err != nil {
		t.Fatal(err)
	}
	// Connection 1: 200 (chunked), 200, 503 close; connection 2: 200, 200,
	// then the HTTP/1.0 answer at request 5.
	got := fmt.Sprint(res.Statuses, res.Backends, res.Connections, res.Errors)
	if got != "map[200:4 503:1] map[chunk:2] 2 1" {
		t.Fatalf("got %s; %+v", got, res.ErrorsByKind)
	}
}
