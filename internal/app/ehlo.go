package app

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-mail/switchyard/config"
)

// proxyV2Local is a PROXY v2 header with the LOCAL command (no addresses),
// for probes to destinations that require a header.
var proxyV2Local = []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00}

// learnEHLO asks the default destination's submission service for its EHLO
// keywords, so the proxy never advertises an extension the backend lacks
// (after AUTH the client talks MAIL/RCPT/DATA with the backend directly).
// It returns nil when there is nothing to learn from or the probe fails.
func learnEHLO(c *config.Config, timeout time.Duration) ([]string, error) {
	id := c.Routing.DefaultDestination
	d, ok := c.Destination[id]
	if !ok {
		return nil, nil
	}
	ep, ok := d.Protocol[config.Submission]
	if !ok {
		return nil, nil
	}
	addr := net.JoinHostPort(d.Host, strconv.Itoa(ep.Port))
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if d.ForwardingFor(config.Submission) == config.ForwardProxy {
		if _, err := conn.Write(proxyV2Local); err != nil {
			return nil, err
		}
	}
	if ep.TLS == config.TLSImplicit {
		tc, err := clientTLS(id, &d)
		if err != nil {
			return nil, err
		}
		t := tls.Client(conn, tc)
		if err := t.Handshake(); err != nil {
			return nil, err
		}
		conn = t
	}
	r := bufio.NewReader(conn)
	if code, _, err := readReply(r); err != nil || code != 220 {
		return nil, fmt.Errorf("greeting %d: %v", code, err)
	}
	host := c.Server.Hostname
	if host == "" {
		host = "switchyard.invalid"
	}
	if _, err := fmt.Fprintf(conn, "EHLO %s\r\n", host); err != nil {
		return nil, err
	}
	code, lines, err := readReply(r)
	if err != nil || code != 250 {
		return nil, fmt.Errorf("EHLO %d: %v", code, err)
	}
	_, _ = fmt.Fprintf(conn, "QUIT\r\n")
	if len(lines) > 0 {
		lines = lines[1:] // the first line is the backend's name
	}
	return lines, nil
}

// readReply reads one SMTP reply: its code and the text of each line.
func readReply(r *bufio.Reader) (int, []string, error) {
	var lines []string
	for i := 0; i < 100; i++ {
		l, err := r.ReadString('\n')
		if err != nil {
			return 0, nil, err
		}
		l = strings.TrimRight(l, "\r\n")
		if len(l) < 4 {
			return 0, nil, fmt.Errorf("short reply line %q", l)
		}
		code, err := strconv.Atoi(l[:3])
		if err != nil {
			return 0, nil, fmt.Errorf("bad reply line %q", l)
		}
		lines = append(lines, l[4:])
		if l[3] == ' ' {
			return code, lines, nil
		}
	}
	return 0, nil, fmt.Errorf("reply too long")
}

// filterEHLO keeps the configured keywords the backend also offers; for
// SIZE it takes the backend's limit, which is the one that applies.
func filterEHLO(configured, backend []string) []string {
	offered := map[string]string{}
	for _, l := range backend {
		kw, _, _ := strings.Cut(l, " ")
		offered[strings.ToUpper(kw)] = l
	}
	var out []string
	for _, c := range configured {
		kw, _, _ := strings.Cut(c, " ")
		line, ok := offered[strings.ToUpper(kw)]
		switch {
		case strings.EqualFold(kw, "ENHANCEDSTATUSCODES"):
			out = append(out, c) // the proxy's own replies carry them
		case !ok:
		case strings.EqualFold(kw, "SIZE"):
			out = append(out, line)
		default:
			out = append(out, c)
		}
	}
	return out
}
