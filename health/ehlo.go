package health

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/switchyard-mail/switchyard/protocols/smtp"
)

// EHLO asks t, an SMTP submission service, for its EHLO keywords: it reads
// the greeting, says "EHLO hostname" and returns the reply's lines after the
// first (which names the server), then says QUIT. The whole exchange takes
// at most timeout. The submission driver asks the default destination at
// start, so the proxy never advertises an extension the backend lacks.
func EHLO(ctx context.Context, t Target, hostname string, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, raw, err := open(ctx, t, d.DialContext)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	r := replyReader{c: c}
	if code, _, err := r.next(); err != nil || code != 220 {
		return nil, fmt.Errorf("greeting %d: %v", code, err)
	}
	if _, err := fmt.Fprintf(c, "EHLO %s\r\n", hostname); err != nil {
		return nil, err
	}
	code, lines, err := r.next()
	if err != nil || code != 250 {
		return nil, fmt.Errorf("EHLO %d: %v", code, err)
	}
	_, _ = fmt.Fprintf(c, "QUIT\r\n")
	return lines[1:], nil
}

// replyReader reads whole SMTP replies from c with smtp.ParseReply.
type replyReader struct {
	c   net.Conn
	buf []byte // read and not yet parsed
}

func (r *replyReader) next() (code int, lines []string, err error) {
	var tmp [512]byte
	for {
		code, lines, n, err := smtp.ParseReply(r.buf)
		if err != nil {
			return 0, nil, err
		}
		if n > 0 {
			r.buf = r.buf[n:]
			return code, lines, nil
		}
		m, err := r.c.Read(tmp[:])
		r.buf = append(r.buf, tmp[:m]...)
		if err != nil && m == 0 {
			return 0, nil, err
		}
	}
}
