package smtprelay

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
)

// legPhase is where the dialogue with the current backend leg stands. The
// machine sends one command at a time and waits for its reply.
type legPhase uint8

const (
	lgNone     legPhase = iota // no leg
	lgDialing                  // RelayConnect returned
	lgGreeting                 // connected, greeting owed
	lgHello                    // EHLO/LHLO sent
	lgStartTLS                 // STARTTLS sent
	lgTLS                      // RelayBackendStartTLS returned
	lgXClient                  // XCLIENT sent
	lgIdle                     // ready, nothing owed
	lgRset                     // RSET sent (its reply is swallowed)
	lgMail                     // MAIL sent
	lgRcpt                     // RCPT sent
	lgData                     // DATA sent
	lgBody                     // the message is being forwarded
	lgDot                      // end of data sent: final replies owed
)

// relayLeg is one backend connection, bound to a destination.
type relayLeg struct {
	phase       legPhase
	dest        string
	startTLS    bool
	tlsDone     bool
	forward     *forward.Info // what XCLIENT announces; nil: nothing
	xclient     []string      // XCLIENT lines still to send
	xclientDone bool
	ext         smtpwire.Extensions
	dirty       bool // a MAIL went out since the last RSET or end of data
	reader      replyReader
}

// maxRelayReplyLines bounds one backend reply relayed to the client.
const maxRelayReplyLines = limits.SMTPMaxRelayReplyLines

// replyReader finds whole backend replies without consuming them: the
// engine keeps the bytes and hands them back with more, so the reader only
// remembers how far it has checked.
type replyReader struct {
	off   int // octets of the reply in progress already checked, whole lines
	scan  int // octets of the line in progress known to hold no LF
	code  int
	lines int
}

var errReplyTooLong = errors.New("reply too long")

// next reports the end of the first complete reply in in and its code;
// end is 0 while the reply is incomplete. A malformed or oversized reply
// is an error.
func (rr *replyReader) next(in []byte) (end, code int, err error) {
	if rr.off > len(in) {
		*rr = replyReader{} // handed back less than before: start again
	}
	for {
		rest := in[rr.off:]
		e, scan, tooLong := smtpwire.FrameReply(rest, rr.scan)
		if tooLong {
			return 0, 0, errReplyTooLong
		}
		if e == 0 {
			rr.scan = scan
			return 0, 0, nil
		}
		rr.scan = 0
		r, ok := smtpwire.ParseReply(rest[:e])
		switch {
		case !ok:
			return 0, 0, fmt.Errorf("malformed reply %s", eol.Quote(rest[:e]))
		case rr.code != 0 && r.Code != rr.code:
			return 0, 0, fmt.Errorf("reply code changed within a reply: %s", eol.Quote(rest[:e]))
		}
		rr.off += e
		rr.lines++
		if rr.lines > maxRelayReplyLines || rr.off > smtpwire.MaxRelay {
			return 0, 0, errReplyTooLong
		}
		if r.Last {
			end = rr.off
			*rr = replyReader{}
			return end, r.Code, nil
		}
		rr.code = r.Code
	}
}

// appendReply appends a complete backend reply for the client: each line
// ended by CRLF, control characters inside a line dropped.
func appendReply(dst, reply []byte) []byte {
	for len(reply) > 0 {
		i := lineEnd(reply)
		for _, c := range eol.Trim(reply[:i+1]) {
			if c >= ' ' && c != 0x7f {
				dst = append(dst, c)
			}
		}
		dst = append(dst, "\r\n"...)
		reply = reply[i+1:]
	}
	return dst
}

// lineEnd is the index of the LF ending the first line of b (its last
// octet when there is none).
func lineEnd(b []byte) int {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return i
	}
	return len(b) - 1
}

// connect asks for a leg to dest, saying QUIT to the current one.
func (r *Relay) connect(dest string, o *protocols.RelayOut) protocols.RelayEvent {
	if r.leg.phase != lgNone {
		o.Backend = append(o.Backend, "QUIT\r\n"...)
	}
	r.leg = relayLeg{phase: lgDialing, dest: dest}
	return protocols.RelayConnect
}

// BackendConnected starts the dialogue on a new leg: its greeting comes
// first.
func (r *Relay) BackendConnected(leg protocols.BackendLeg, o *protocols.RelayOut) protocols.RelayEvent {
	if r.leg.phase != lgDialing {
		return protocols.RelayNone
	}
	r.leg.phase = lgGreeting
	r.leg.startTLS = leg.StartTLS
	if leg.Forward != nil {
		// A copy: the HELO name and protocol are the client's, known here.
		f := *leg.Forward
		if r.helo != "" {
			f.Helo = r.helo
		}
		if r.proto != "" {
			f.Proto = r.proto
		}
		if f.Proto == "" { // forward.XClientArgs: SMTP dialect
			f.Proto = "ESMTP"
			if r.cfg.LMTP {
				f.Proto = "LMTP"
			}
		}
		if r.cfg.TTL > 0 {
			f.TTL = r.cfg.TTL
		}
		r.leg.forward = &f
	}
	return protocols.RelayNone
}

// BackendTLSStarted: what the backend said before TLS is forgotten and
// EHLO/LHLO sent again (RFC 3207 section 4.2).
func (r *Relay) BackendTLSStarted(o *protocols.RelayOut) protocols.RelayEvent {
	if r.leg.phase != lgTLS {
		return protocols.RelayNone
	}
	r.leg.tlsDone = true
	r.leg.reader = replyReader{}
	r.sendHello(o, r.cfg.Hostname)
	return protocols.RelayNone
}

// BackendDown: the leg is gone. Owed replies become temporary failures;
// nothing is ever turned into a success.
func (r *Relay) BackendDown(o *protocols.RelayOut) protocols.RelayEvent {
	if r.leg.phase != lgNone {
		r.legLost(o)
	}
	return protocols.RelayNone
}

// legLost answers what the client is owed after the leg failed and forgets
// the leg.
func (r *Relay) legLost(o *protocols.RelayOut) {
	lost := r.leg.dest
	r.leg = relayLeg{}
	switch r.phase {
	case cpRcpt:
		o.Client = appendRcptUnavailable(o.Client, r.rcpt)
		r.tx.failure = txLost
		r.phase = cpCommand
	case cpData:
		o.Client = append(o.Client, replyDataNoBackend...)
		r.transactionOver()
	case cpBody:
		r.discardBody(replyDataLost)
	case cpFinal:
		for range r.body.owed {
			o.Client = append(o.Client, replyDataLost...)
		}
		r.transactionOver()
	default:
		if r.tx.active && r.tx.dest == lost && r.tx.failure == txOK {
			r.tx.failure = txLost
		}
	}
}

// legFailed ends a leg that misbehaved or refused the setup.
func (r *Relay) legFailed(o *protocols.RelayOut, quit bool) protocols.RelayEvent {
	if quit {
		o.Backend = append(o.Backend, "QUIT\r\n"...)
	}
	r.legLost(o)
	return protocols.RelayDisconnect
}

// FeedBackend consumes whole replies from the leg. Bytes nothing is owed
// for (a 421 before the backend hangs up, say) end the leg.
func (r *Relay) FeedBackend(in []byte, o *protocols.RelayOut) (consumed int, ev protocols.RelayEvent) {
	for consumed < len(in) {
		switch r.leg.phase {
		case lgNone:
			return len(in), protocols.RelayDisconnect
		case lgDialing, lgTLS:
			return consumed, protocols.RelayNone
		case lgIdle, lgBody:
			r.legLost(o)
			return len(in), protocols.RelayDisconnect
		}
		end, code, err := r.leg.reader.next(in[consumed:])
		if err != nil {
			r.legLost(o)
			return len(in), protocols.RelayDisconnect
		}
		if end == 0 {
			return consumed, protocols.RelayNone
		}
		reply := in[consumed : consumed+end]
		consumed += end
		if ev := r.backendReply(reply, code, o); ev != protocols.RelayNone {
			return consumed, ev
		}
	}
	return consumed, protocols.RelayNone
}

// verdict classes of a backend reply to a transaction command. A 421 means
// the backend is closing: the leg failed, whatever the command.
func positive(code int) bool { return code >= 200 && code < 300 }
func negative(code int) bool { return code >= 400 && code < 600 && code != 421 }

// backendReply acts on one complete reply.
func (r *Relay) backendReply(reply []byte, code int, o *protocols.RelayOut) protocols.RelayEvent {
	leg := &r.leg
	switch leg.phase {
	case lgGreeting:
		if code != 220 {
			return r.legFailed(o, code != 421)
		}
		r.sendHello(o, r.cfg.Hostname)
	case lgHello:
		if code != 250 {
			return r.legFailed(o, code != 421)
		}
		leg.ext = ehloExtensions(reply)
		return r.afterHello(o)
	case lgStartTLS:
		if code != 220 {
			return r.legFailed(o, code != 421)
		}
		leg.phase = lgTLS
		return protocols.RelayBackendStartTLS
	case lgXClient:
		// Postfix and Dovecot answer with a fresh 220 greeting: the session
		// starts over and wants EHLO again. A plain 250 is taken too.
		if !positive(code) {
			return r.legFailed(o, code != 421)
		}
		if len(leg.xclient) > 0 {
			r.sendLine(o, leg.xclient[0])
			leg.xclient = leg.xclient[1:]
			return protocols.RelayNone
		}
		name := r.cfg.Hostname
		if smtpwire.ValidDomainText(leg.forward.Helo) {
			name = leg.forward.Helo
		}
		r.sendHello(o, name)
	case lgRset:
		if !positive(code) {
			return r.legFailed(o, code != 421)
		}
		leg.dirty = false
		leg.phase = lgIdle
		return r.legNext(o)
	case lgMail:
		switch {
		case positive(code):
			leg.phase = lgIdle
			return r.legNext(o)
		case negative(code):
			// The transaction failed at the backend: its reply answers
			// this recipient and every later one.
			leg.phase = lgIdle
			r.tx.failure = txRefused
			r.tx.refusal = appendReply(nil, reply)
			o.Client = append(o.Client, r.tx.refusal...)
			r.phase = cpCommand
			return protocols.RelayNone
		}
		return r.legFailed(o, false)
	case lgRcpt:
		if !positive(code) && !negative(code) {
			return r.legFailed(o, false)
		}
		if positive(code) {
			r.tx.accepted++
		}
		leg.phase = lgIdle
		o.Client = appendReply(o.Client, reply)
		r.phase = cpCommand
	case lgData:
		switch {
		case code == 354:
			leg.phase = lgBody
			o.Client = appendReply(o.Client, reply)
			r.startBody()
		case negative(code):
			leg.phase = lgIdle
			o.Client = appendReply(o.Client, reply)
			r.transactionOver()
		default:
			return r.legFailed(o, false)
		}
	case lgDot:
		if !positive(code) && !negative(code) {
			return r.legFailed(o, false)
		}
		o.Client = appendReply(o.Client, reply)
		r.body.owed--
		if r.body.owed == 0 {
			leg.phase = lgIdle
			leg.dirty = false
			r.transactionOver()
		}
	}
	return protocols.RelayNone
}

// ehloExtensions reads a complete EHLO/LHLO reply; its first line names
// the server.
func ehloExtensions(reply []byte) smtpwire.Extensions {
	var ext smtpwire.Extensions
	for first := true; len(reply) > 0; first = false {
		i := lineEnd(reply)
		if rl, ok := smtpwire.ParseReply(reply[:i+1]); ok && !first {
			ext.Parse(rl.Text)
		}
		reply = reply[i+1:]
	}
	return ext
}

func (r *Relay) sendLine(o *protocols.RelayOut, line string) {
	o.Backend = append(o.Backend, line...)
	o.Backend = append(o.Backend, "\r\n"...)
}

func (r *Relay) sendHello(o *protocols.RelayOut, name string) {
	if r.cfg.LMTP {
		o.Backend = append(o.Backend, "LHLO "...)
	} else {
		o.Backend = append(o.Backend, "EHLO "...)
	}
	o.Backend = append(o.Backend, name...)
	o.Backend = append(o.Backend, "\r\n"...)
	r.leg.phase = lgHello
}

// afterHello goes on after an EHLO/LHLO reply: STARTTLS, XCLIENT, or the
// work the client is waiting for.
func (r *Relay) afterHello(o *protocols.RelayOut) protocols.RelayEvent {
	leg := &r.leg
	if leg.startTLS && !leg.tlsDone {
		if !leg.ext.StartTLS {
			return r.legFailed(o, true)
		}
		leg.phase = lgStartTLS
		r.sendLine(o, "STARTTLS")
		return protocols.RelayNone
	}
	if leg.forward != nil && !leg.xclientDone && leg.ext.XClient != nil {
		leg.xclientDone = true
		if lines := forward.XClientArgs(*leg.forward, leg.ext.XClient); len(lines) > 0 {
			leg.phase = lgXClient
			leg.xclient = lines[1:]
			r.sendLine(o, lines[0])
			return protocols.RelayNone
		}
	}
	leg.phase = lgIdle
	return r.legNext(o)
}

// legNext sends the next command the client's owed reply needs on an idle
// leg: RSET for a leftover transaction, MAIL, then RCPT; or DATA.
func (r *Relay) legNext(o *protocols.RelayOut) protocols.RelayEvent {
	leg := &r.leg
	switch r.phase {
	case cpRcpt:
		if r.tx.mailSent {
			leg.phase = lgRcpt
			o.Backend = append(o.Backend, "RCPT TO:<"...)
			o.Backend = append(o.Backend, r.rcpt...)
			o.Backend = append(o.Backend, ">\r\n"...)
			return protocols.RelayNone
		}
		if leg.dirty {
			leg.phase = lgRset
			r.sendLine(o, "RSET")
			return protocols.RelayNone
		}
		if r.tx.smtpUTF8 && !leg.ext.SMTPUTF8 {
			// RFC 6531 section 3.2: the message cannot be relayed there.
			r.tx.failure = txRefused
			r.tx.refusal = []byte(replyNoUTF8Backend)
			o.Client = append(o.Client, replyNoUTF8Backend...)
			r.phase = cpCommand
			return protocols.RelayNone
		}
		r.tx.mailSent = true
		leg.dirty = true
		leg.phase = lgMail
		r.appendMail(o)
	case cpData:
		leg.phase = lgData
		r.sendLine(o, "DATA")
	}
	return protocols.RelayNone
}

// appendMail replays MAIL FROM with the parameters the backend supports:
// SIZE, BODY (8BITMIME) and SMTPUTF8 only where advertised.
func (r *Relay) appendMail(o *protocols.RelayOut) {
	o.Backend = append(o.Backend, "MAIL FROM:<"...)
	o.Backend = append(o.Backend, r.tx.sender...)
	o.Backend = append(o.Backend, '>')
	if r.tx.size >= 0 && r.leg.ext.Size {
		o.Backend = append(o.Backend, " SIZE="...)
		o.Backend = append(o.Backend, itoa64(r.tx.size)...)
	}
	if r.tx.body != "" && r.leg.ext.EightBit {
		o.Backend = append(o.Backend, " BODY="...)
		o.Backend = append(o.Backend, r.tx.body...)
	}
	if r.tx.smtpUTF8 {
		o.Backend = append(o.Backend, " SMTPUTF8"...)
	}
	o.Backend = append(o.Backend, "\r\n"...)
}
