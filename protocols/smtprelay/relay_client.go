package smtprelay

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
)

// Replies of the Relay besides the shared ones in reply.go.
const (
	replyMailOK        = "250 2.1.0 Ok\r\n"
	replySendLHLO      = "503 5.5.1 Error: send LHLO first\r\n"
	replyUseLHLO       = "500 5.5.1 Error: this is LMTP, send LHLO\r\n"
	replyNeedMail      = "503 5.5.1 Error: need MAIL command\r\n"
	replyNestedMail    = "503 5.5.1 Error: nested MAIL command\r\n"
	replyMailInTx      = "503 5.5.1 Error: MAIL transaction in progress\r\n"
	replyMailSyntax    = "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
	replyRcptSyntax    = "501 5.5.4 Syntax: RCPT TO:<address>\r\n"
	replyDataSyntax    = "501 5.5.4 Syntax: DATA\r\n"
	replyVrfySyntax    = "501 5.5.4 Syntax: VRFY address\r\n"
	replyBadSender     = "501 5.1.7 Bad sender address syntax\r\n"
	replyBadRecipient  = "501 5.1.3 Bad recipient address syntax\r\n"
	replyBadSize       = "501 5.5.4 Bad message size syntax\r\n"
	replyNeedUTF8      = "553 5.6.7 Error: non-ASCII address requires SMTPUTF8\r\n"
	replySizeLimit     = "552 5.3.4 Message size exceeds fixed limit\r\n"
	replyTooManyRcpts  = "452 4.5.3 Too many recipients\r\n"
	replyNoValidRcpts  = "554 5.5.1 Error: no valid recipients\r\n"
	replyVrfy          = "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
	replyRelayHelp     = "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS\r\n"
	replyLMTPHelp      = "214 2.0.0 Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY\r\n"
	replyDataLost      = "451 4.4.2 Error: backend connection lost, message not accepted\r\n"
	replyDataNoBackend = "451 4.4.1 Error: backend unavailable, try again later\r\n"
	replyNoUTF8Backend = "553 5.6.7 Error: the destination does not support SMTPUTF8\r\n"
)

// appendRcptReply appends "<code> <enhanced> <addr>: <text>".
func appendRcptReply(out []byte, codes, addr, text string) []byte {
	out = append(out, codes...)
	out = append(out, " <"...)
	out = append(out, addr...)
	out = append(out, ">: "...)
	out = append(out, text...)
	return append(out, "\r\n"...)
}

// FeedClient consumes client commands and message data. While a reply is
// owed by the router or the backend it consumes nothing: pipelined
// commands wait with the engine and are answered in order.
func (r *Relay) FeedClient(in []byte, o *protocols.RelayOut) (consumed int, ev protocols.RelayEvent) {
	for {
		switch r.phase {
		case cpClosed:
			return len(in), protocols.RelayClose
		case cpRoute, cpRcpt, cpData, cpFinal:
			return consumed, protocols.RelayNone
		case cpBody, cpDiscard:
			n, ev, more := r.feedBody(in[consumed:], o)
			consumed += n
			if ev != protocols.RelayNone || more {
				return consumed, ev
			}
			continue
		}
		rest := in[consumed:]
		if len(rest) == 0 {
			return consumed, protocols.RelayNone
		}
		if r.frame.Discard {
			n, found := r.frame.SkipLine(rest)
			consumed += n
			if !found {
				return consumed, protocols.RelayNone
			}
			if ev := r.refuse(o, smtpwire.ReplyLineTooLong); ev != protocols.RelayNone {
				return consumed, ev
			}
			continue
		}
		end, res := r.frame.FrameLine(rest, r.lineLimit)
		switch res {
		case eol.FrameMore:
			return consumed, protocols.RelayNone
		case eol.FrameTooLong:
			consumed += end
			if r.frame.Discard {
				return consumed, protocols.RelayNone
			}
			if ev := r.refuse(o, smtpwire.ReplyLineTooLong); ev != protocols.RelayNone {
				return consumed, ev
			}
			continue
		}
		consumed += end
		if ev := r.command(rest[:end], o); ev != protocols.RelayNone {
			return consumed, ev
		}
	}
}

func (r *Relay) lineLimit([]byte) int { return r.cfg.MaxLine }

// refuse appends an error reply and counts it; past MaxErrors the session
// ends with 421. Routing and backend verdicts are not counted.
func (r *Relay) refuse(o *protocols.RelayOut, reply string) protocols.RelayEvent {
	o.Client = append(o.Client, reply...)
	r.errors++
	if r.errors >= smtpwire.DefaultMaxErrors {
		r.close(o)
		o.Client = smtpwire.Append421(o.Client, r.cfg.Hostname, smtpwire.TextTooManyErrors)
		return protocols.RelayClose
	}
	return protocols.RelayNone
}

// command runs one complete command line (terminator included).
func (r *Relay) command(line []byte, o *protocols.RelayOut) protocols.RelayEvent {
	l := eol.Trim(line)
	if len(l) == 0 || bytes.IndexByte(l, 0) >= 0 {
		return r.refuse(o, smtpwire.ReplyBadSyntax)
	}
	verb, arg := smtpwire.SplitVerb(l)
	var buf [8]byte
	cmd := string(ascii.Upper(buf[:], verb))
	if r.draining && !r.inTransaction() {
		// The transaction that held the shutdown back is over.
		r.close(o)
		if cmd == "QUIT" {
			o.Client = append(o.Client, smtpwire.ReplyBye...)
		} else {
			o.Client = smtpwire.Append421(o.Client, r.cfg.Hostname, smtpwire.TextShutdown)
		}
		return protocols.RelayClose
	}
	switch cmd {
	case "EHLO", "HELO":
		if r.cfg.LMTP {
			return r.refuse(o, replyUseLHLO)
		}
		return r.hello(arg, cmd == "EHLO", o)
	case "LHLO":
		if !r.cfg.LMTP {
			return r.refuse(o, smtpwire.ReplyUnknown)
		}
		return r.hello(arg, true, o)
	case "STARTTLS":
		return r.startTLS(arg, o)
	case "MAIL":
		return r.mail(arg, o)
	case "RCPT":
		return r.rcptCommand(arg, o)
	case "DATA":
		return r.data(arg, o)
	case "RSET":
		if len(arg) > 0 {
			return r.refuse(o, smtpwire.ReplyNoArgs)
		}
		// The leg, if it holds a transaction, gets RSET before its next
		// use (leg.dirty), so no reply is ever swallowed out of turn.
		r.tx = transaction{}
		o.Client = append(o.Client, smtpwire.ReplyOK...)
	case "NOOP":
		o.Client = append(o.Client, smtpwire.ReplyOK...)
	case "QUIT":
		r.close(o)
		o.Client = append(o.Client, smtpwire.ReplyBye...)
		return protocols.RelayClose
	case "HELP":
		if r.cfg.LMTP {
			o.Client = append(o.Client, replyLMTPHelp...)
		} else {
			o.Client = append(o.Client, replyRelayHelp...)
		}
	case "VRFY":
		if len(arg) == 0 {
			return r.refuse(o, replyVrfySyntax)
		}
		o.Client = append(o.Client, replyVrfy...)
	case "EXPN", "AUTH", "BDAT", "ETRN", "TURN", "ATRN", "BURL", "XCLIENT", "XFORWARD", "SEND", "SOML", "SAML":
		return r.refuse(o, smtpwire.ReplyNotImpl)
	default:
		return r.refuse(o, smtpwire.ReplyUnknown)
	}
	return protocols.RelayNone
}

// hello answers EHLO, HELO or LHLO; each resets the session (RFC 5321
// section 4.1.4). The name and the protocol go to backends in XCLIENT.
func (r *Relay) hello(arg []byte, extended bool, o *protocols.RelayOut) protocols.RelayEvent {
	name := arg
	if i := bytes.IndexByte(arg, ' '); i >= 0 {
		name = arg[:i]
	}
	if len(name) == 0 {
		if extended {
			return r.refuse(o, smtpwire.ReplyEHLOSyntax)
		}
		return r.refuse(o, smtpwire.ReplyHELOSyntax)
	}
	r.tx = transaction{}
	r.helo = string(name)
	switch {
	case r.cfg.LMTP:
		r.proto = "LMTP"
	case extended:
		r.proto = "ESMTP"
	default:
		r.proto = "SMTP"
		o.Client = append(o.Client, "250 "...)
		o.Client = append(o.Client, r.cfg.Hostname...)
		o.Client = append(o.Client, "\r\n"...)
		return protocols.RelayNone
	}
	o.Client = append(o.Client, r.ehlo...)
	return protocols.RelayNone
}

// startTLS answers STARTTLS (RFC 3207). Only the command line is consumed:
// the engine drops anything the client sent after it.
func (r *Relay) startTLS(arg []byte, o *protocols.RelayOut) protocols.RelayEvent {
	switch {
	case len(arg) > 0:
		return r.refuse(o, smtpwire.ReplyNoArgs)
	case r.tls:
		return r.refuse(o, smtpwire.ReplyTLSActive)
	case !r.cfg.StartTLS:
		return r.refuse(o, smtpwire.ReplyNoTLS)
	case r.tx.active:
		return r.refuse(o, replyMailInTx)
	}
	o.Client = append(o.Client, smtpwire.ReplyStartTLS...)
	return protocols.RelayStartTLS
}

func (r *Relay) sendHelloFirst() string {
	if r.cfg.LMTP {
		return replySendLHLO
	}
	return smtpwire.ReplySendHelo
}

// mail accepts MAIL FROM locally: the destination is not known before the
// first recipient, so the command is replayed on the backend then.
func (r *Relay) mail(arg []byte, o *protocols.RelayOut) protocols.RelayEvent {
	switch {
	case r.helo == "":
		return r.refuse(o, r.sendHelloFirst())
	case r.tx.active:
		return r.refuse(o, replyNestedMail)
	}
	path, ok := cutPrefixFold(arg, "FROM:")
	if !ok {
		return r.refuse(o, replyMailSyntax)
	}
	addr, params, ok := parsePath(path)
	if !ok {
		return r.refuse(o, replyBadSender)
	}
	tx := transaction{active: true, sender: string(addr), size: -1}
	for _, p := range strings.Fields(string(params)) {
		kw, value, hasValue := strings.Cut(p, "=")
		switch {
		case strings.EqualFold(kw, "SIZE") && hasValue:
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 || value[0] == '+' {
				return r.refuse(o, replyBadSize)
			}
			if r.cfg.MaxMessageSize > 0 && n > r.cfg.MaxMessageSize {
				o.Client = append(o.Client, replySizeLimit...)
				return protocols.RelayNone
			}
			tx.size = n
		case strings.EqualFold(kw, "BODY") && (strings.EqualFold(value, "7BIT") || strings.EqualFold(value, "8BITMIME")):
			tx.body = strings.ToUpper(value)
		case strings.EqualFold(p, "SMTPUTF8"):
			tx.smtpUTF8 = true
		default:
			return r.unsupported(o, p)
		}
	}
	if !tx.smtpUTF8 && !isASCII(addr) {
		return r.refuse(o, replyNeedUTF8)
	}
	r.tx = tx
	o.Client = append(o.Client, replyMailOK...)
	return protocols.RelayNone
}

func (r *Relay) unsupported(o *protocols.RelayOut, param string) protocols.RelayEvent {
	return r.refuse(o, "555 5.5.4 Unsupported option: "+ascii.Sanitize(param, ascii.Printable)+"\r\n")
}

// rcptCommand checks RCPT TO and asks the engine to route the recipient.
// No RCPT parameter is accepted: DSN is not offered.
func (r *Relay) rcptCommand(arg []byte, o *protocols.RelayOut) protocols.RelayEvent {
	if !r.tx.active {
		return r.refuse(o, replyNeedMail)
	}
	path, ok := cutPrefixFold(arg, "TO:")
	if !ok {
		return r.refuse(o, replyRcptSyntax)
	}
	addr, params, ok := parsePath(path)
	switch {
	case !ok || len(addr) == 0:
		return r.refuse(o, replyBadRecipient)
	case !r.tx.smtpUTF8 && !isASCII(addr):
		return r.refuse(o, replyNeedUTF8)
	case len(params) > 0:
		p, _, _ := bytes.Cut(params, []byte(" "))
		return r.unsupported(o, string(p))
	case r.tx.accepted >= r.cfg.MaxRecipients:
		o.Client = append(o.Client, replyTooManyRcpts...)
		return protocols.RelayNone
	}
	r.rcpt = string(addr)
	r.phase = cpRoute
	return protocols.RelayRoute
}

// Routed takes the router's answer for Recipient(). The first routed
// recipient fixes the transaction's destination; a recipient elsewhere
// gets 452 4.5.3 and is retried by the client in a new transaction (RFC
// 5321 section 3.3).
func (r *Relay) Routed(dest string, outcome protocols.RouteOutcome, o *protocols.RelayOut) protocols.RelayEvent {
	if r.phase != cpRoute {
		return protocols.RelayNone
	}
	r.phase = cpCommand
	switch {
	case outcome == protocols.RouteUnknown:
		o.Client = appendRcptReply(o.Client, "550 5.1.1", r.rcpt, "Recipient address rejected: unknown destination")
		return protocols.RelayNone
	case outcome != protocols.RouteOK || dest == "":
		o.Client = appendRcptReply(o.Client, "451 4.4.3", r.rcpt, "Recipient routing temporarily unavailable, try again later")
		return protocols.RelayNone
	case r.tx.dest == "":
		r.tx.dest = dest
		r.phase = cpRcpt
		if r.leg.phase == lgIdle && r.leg.dest == dest {
			return r.legNext(o)
		}
		return r.connect(dest, o)
	case dest != r.tx.dest:
		o.Client = append(o.Client, replyTooManyRcpts...)
		return protocols.RelayNone
	}
	switch {
	case r.tx.failure == txRefused:
		o.Client = append(o.Client, r.tx.refusal...)
		return protocols.RelayNone
	case r.tx.failure == txLost || r.leg.phase != lgIdle || r.leg.dest != dest:
		r.tx.failure = txLost
		o.Client = appendRcptUnavailable(o.Client, r.rcpt)
		return protocols.RelayNone
	}
	r.phase = cpRcpt
	return r.legNext(o)
}

func appendRcptUnavailable(out []byte, addr string) []byte {
	return appendRcptReply(out, "451 4.4.1", addr, "Recipient address rejected: backend unavailable, try again later")
}

// data starts the message on the leg; the backend's 354 is relayed.
func (r *Relay) data(arg []byte, o *protocols.RelayOut) protocols.RelayEvent {
	switch {
	case len(arg) > 0:
		return r.refuse(o, replyDataSyntax)
	case !r.tx.active:
		return r.refuse(o, replyNeedMail)
	case r.tx.accepted == 0:
		o.Client = append(o.Client, replyNoValidRcpts...)
	case r.tx.failure != txOK || r.leg.phase != lgIdle || r.leg.dest != r.tx.dest:
		o.Client = append(o.Client, replyDataNoBackend...)
	default:
		r.phase = cpData
		return r.legNext(o)
	}
	r.transactionOver()
	return protocols.RelayNone
}

// cutPrefixFold cuts a case-insensitive prefix and the spaces after it
// ("MAIL FROM: <a>" is common enough to accept, as Postfix does).
func cutPrefixFold(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || !strings.EqualFold(string(b[:len(prefix)]), prefix) {
		return nil, false
	}
	return bytes.TrimLeft(b[len(prefix):], " "), true
}

// parsePath reads "<path>" (RFC 5321 section 4.1.2) and returns what is
// inside the brackets, verbatim, and the parameters after it. Quoted local
// parts may hold spaces and '>'; control characters are refused.
func parsePath(b []byte) (addr, params []byte, ok bool) {
	if len(b) == 0 || b[0] != '<' {
		return nil, nil, false
	}
	quoted := false
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case c < ' ' || c == 0x7f:
			return nil, nil, false
		case quoted && c == '\\':
			i++
			if i == len(b) || b[i] < ' ' || b[i] == 0x7f {
				return nil, nil, false
			}
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ' ' || c == '<':
			return nil, nil, false
		case c == '>':
			rest := b[i+1:]
			if len(rest) > 0 && rest[0] != ' ' {
				return nil, nil, false
			}
			rest = bytes.Trim(rest, " ")
			for _, c := range rest {
				if c < ' ' || c == 0x7f {
					return nil, nil, false
				}
			}
			return b[1:i], rest, true
		}
	}
	return nil, nil, false
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
