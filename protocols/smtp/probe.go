package smtp

import (
	"errors"
	"strings"

	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
)

// ParseReply reads one complete reply from the start of in, for a client
// outside the state machines (the start-up EHLO probe in package health),
// with the rules the Backend reads replies by. It returns the reply's code,
// the text of each line (after "ddd-" or "ddd ") and the octets used; n is
// 0 with a nil error while in holds no complete reply yet. A malformed
// line, a line over the limit, a code that changes within the reply or too
// many lines is an error.
func ParseReply(in []byte) (code int, lines []string, n int, err error) {
	for {
		end, _, tooLong := smtpwire.FrameReply(in[n:], 0)
		if tooLong {
			return 0, nil, 0, errors.New("smtp: reply line too long")
		}
		if end == 0 {
			return 0, nil, 0, nil
		}
		r, ok := smtpwire.ParseReply(in[n : n+end])
		if !ok {
			return 0, nil, 0, errors.New("smtp: malformed reply " + eol.Quote(in[n:n+end]))
		}
		if code != 0 && r.Code != code {
			return 0, nil, 0, errors.New("smtp: reply code changed within a reply: " + eol.Quote(in[n:n+end]))
		}
		if len(lines) == smtpwire.MaxReplyLines {
			return 0, nil, 0, errors.New("smtp: reply has too many lines")
		}
		code, n = r.Code, n+end
		lines = append(lines, string(r.Text))
		if r.Last {
			return code, lines, n, nil
		}
	}
}

// NarrowExtensions keeps the configured EHLO keywords a backend also
// offers (offered: its EHLO reply lines after the first), so the proxy never
// advertises an extension the backend lacks: after AUTH the client talks
// MAIL/RCPT/DATA with the backend directly. ENHANCEDSTATUSCODES stays (the
// proxy's own replies carry them); for SIZE the backend's limit is taken,
// which is the one that applies.
func NarrowExtensions(configured, offered []string) []string {
	byKeyword := map[string]string{}
	for _, l := range offered {
		kw, _, _ := strings.Cut(l, " ")
		byKeyword[strings.ToUpper(kw)] = l
	}
	var out []string
	for _, c := range configured {
		kw, _, _ := strings.Cut(c, " ")
		line, ok := byKeyword[strings.ToUpper(kw)]
		switch {
		case strings.EqualFold(kw, "ENHANCEDSTATUSCODES"):
			out = append(out, c)
		case !ok:
		case strings.EqualFold(kw, "SIZE"):
			out = append(out, line)
		default:
			out = append(out, c)
		}
	}
	return out
}
