// Package mocksieve is a small in-process ManageSieve server for the
// in-process tests and the bench. It sends a capability block, takes
// XCLIENT (ADDR, PORT, as Dovecot's managesieve-login does),
// AUTHENTICATE "PLAIN" with a quoted initial response, and then answers
// LISTSCRIPTS with one script named "marker-<Name>", NOOP and LOGOUT. It
// can read a PROXY v1/v2 header first. One goroutine per connection.
package mocksieve

import (
	"fmt"
	"net"
	"strings"

	"github.com/switchyard-mail/switchyard/bench/internal/mockserver"
)

// Config describes one mock backend.
type Config struct {
	Name              string
	Users             map[string]string
	AcceptProxyHeader bool
	XClient           bool
}

// Server is a running mock backend: Addr, Close, Logins and
// LastClientAddr are mockserver.Backend's.
type Server = mockserver.Mock[Config]

// Listen starts a server on addr.
func Listen(addr string, cfg Config) (*Server, error) {
	return mockserver.Listen(addr, cfg, serve)
}

func serve(s *Server, c net.Conn) {
	r, w, client, ok := mockserver.Open(c, s.Cfg.AcceptProxyHeader)
	if !ok {
		return
	}
	fmt.Fprintf(w, "\"IMPLEMENTATION\" \"mock %s\"\r\n\"SASL\" \"PLAIN\"\r\n\"SIEVE\" \"fileinto\"\r\n", s.Cfg.Name)
	if s.Cfg.XClient {
		fmt.Fprint(w, "\"XCLIENT\"\r\n")
	}
	fmt.Fprint(w, "\"VERSION\" \"1.0\"\r\nOK \"ready\"\r\n")
	authed := false
	for {
		if w.Flush() != nil {
			return
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		name, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(name) {
		case "LOGOUT":
			fmt.Fprint(w, "OK \"bye\"\r\n")
			w.Flush()
			return
		case "NOOP":
			fmt.Fprint(w, "OK \"noop\"\r\n")
		case "XCLIENT":
			client = mockserver.XClient(client, arg)
			fmt.Fprint(w, "OK \"updated\"\r\n")
		case "AUTHENTICATE":
			mech, ir, _ := strings.Cut(arg, " ")
			user, pass, ok := mockserver.DecodePlain(strings.Trim(ir, "\""))
			if !strings.EqualFold(mech, "\"PLAIN\"") || !ok {
				fmt.Fprint(w, "NO \"bad AUTHENTICATE\"\r\n")
				continue
			}
			if pw, ok := s.Cfg.Users[user]; !ok || pw != pass {
				fmt.Fprint(w, "NO \"Authentication failed.\"\r\n")
				continue
			}
			authed = true
			s.RecordLogin(user, client)
			fmt.Fprint(w, "OK \"Logged in.\"\r\n")
		case "LISTSCRIPTS":
			if !authed {
				fmt.Fprint(w, "NO \"not authenticated\"\r\n")
				continue
			}
			fmt.Fprintf(w, "\"marker-%s\" ACTIVE\r\nOK \"listed\"\r\n", s.Cfg.Name)
		default:
			fmt.Fprint(w, "NO \"unknown\"\r\n")
		}
	}
}
