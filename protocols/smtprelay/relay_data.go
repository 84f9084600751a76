package smtprelay

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols"
)

// The message goes to the backend verbatim, dot-stuffing and all, in the
// pieces the client sent it. The end of data is CRLF "." CRLF and nothing
// else (RFC 5321 section 4.1.1.4), whatever the machine is doing with the
// message: forwarding it, swallowing a refused one, or at its very first
// octet (the CRLF of the DATA line counts).
//
// SMTP smuggling lives in line ends other than CRLF: a backend that takes
// "\n.\n", "\r.\r\n" ... for the end of data would read what follows as
// commands the proxy never saw. RFC 5321 section 2.3.8 allows CR and LF in
// a message only as CRLF, so a message with a bare CR or LF anywhere is
// refused, as Postfix's smtpd_forbid_bare_newline = reject does: 521 and
// the end of the session (one 521 per recipient owed, for LMTP).
//
// Why close rather than swallow up to the next CRLF "." CRLF: a client
// that sends bare LFs usually ends its message with "\n.\n" too, and would
// wait for a reply until the command timeout; and once the session is
// over nothing the client sent after the refusal is ever read, so no byte
// of it can become a command, here or at a backend. The leg is dropped
// with the message unfinished (never an end of data, never a QUIT inside
// it), so the backend discards what it got.
//
// What reaches a backend is therefore only CRLF-terminated lines (and the
// start of one): a trailing CR is held back until its LF arrives, and a
// dot at a line start until the octets after it say whether it ends the
// message. Any backend, strict or lax about line ends, finds the end of
// data exactly where the machine does.

// bodyScan follows one message from the client.
type bodyScan struct {
	size    int64  // octets forwarded, end of data excluded
	midLine bool   // the last octet taken was not the LF of a CRLF
	owed    int    // end-of-data replies owed: 1, LMTP one per accepted recipient
	refusal string // the reply to a message that is being swallowed
}

// bodyEvent is what scanBody found after the content.
type bodyEvent uint8

const (
	bodyMore bodyEvent = iota // content; the rest, if any (a dot, a CR), needs more octets
	bodyEnd                   // content, then the end of data ".\r\n"
	bodyBare                  // content, then a bare CR or LF
)

func (r *Relay) startBody() {
	owed := 1
	if r.cfg.LMTP {
		owed = r.tx.accepted
	}
	r.phase = cpBody
	r.body = bodyScan{owed: owed}
}

// feedBody forwards or swallows message octets. more reports that all of
// in was used up (or the rest needs more octets).
func (r *Relay) feedBody(in []byte, o *protocols.RelayOut) (n int, ev protocols.RelayEvent, more bool) {
	k, found, midLine := scanBody(in, r.body.midLine)
	if r.phase == cpBody {
		// The limit comes first when it is crossed before what was found,
		// so that the outcome does not depend on how the client's octets
		// were cut.
		if limit := r.cfg.MaxMessageSize; limit > 0 && r.body.size+int64(k) > limit {
			r.leg = relayLeg{} // never an end of data: the backend drops it
			r.discardBody(replySizeLimit)
			return 0, protocols.RelayDisconnect, false
		}
	}
	if found == bodyBare {
		return r.refuseBareEOL(in, o)
	}
	if r.phase == cpBody {
		r.body.size += int64(k)
		o.Backend = append(o.Backend, in[:k]...)
	}
	r.body.midLine = midLine
	if found != bodyEnd {
		return k, protocols.RelayNone, true
	}
	if r.phase == cpDiscard {
		for range r.body.owed {
			o.Client = append(o.Client, r.body.refusal...)
		}
		r.transactionOver()
	} else {
		o.Backend = append(o.Backend, in[k:k+3]...)
		r.phase = cpFinal
		r.leg.phase = lgDot
	}
	return k + 3, protocols.RelayNone, false
}

// discardBody switches to swallowing the rest of the message; refusal
// answers it once its end arrives.
func (r *Relay) discardBody(refusal string) {
	r.phase = cpDiscard
	r.body.refusal = refusal
}

// refuseBareEOL ends the session over a bare CR or LF in the message. The
// leg, in the middle of the message, is closed by the engine as it is:
// no QUIT, which the backend would take for message content.
func (r *Relay) refuseBareEOL(in []byte, o *protocols.RelayOut) (int, protocols.RelayEvent, bool) {
	for range r.body.owed {
		o.Client = append(o.Client, "521 5.5.2 "...)
		o.Client = append(o.Client, r.cfg.Hostname...)
		o.Client = append(o.Client, " Error: bare <CR> or <LF> received\r\n"...)
	}
	r.leg = relayLeg{}
	r.phase = cpClosed
	return len(in), protocols.RelayClose, false
}

// scanBody returns how much of in is content, what follows it, and
// whether the content ends mid-line. midLine says where in starts.
func scanBody(in []byte, midLine bool) (int, bodyEvent, bool) {
	pos := 0
	for pos < len(in) {
		if !midLine && in[pos] == '.' {
			// A line starting with a dot: the end of data, or a stuffed
			// dot (RFC 5321 section 4.5.2) or content, left as it is.
			switch {
			case pos+1 == len(in):
				return pos, bodyMore, midLine
			case in[pos+1] == '\n':
				return pos, bodyBare, midLine
			case in[pos+1] != '\r':
			case pos+2 == len(in):
				return pos, bodyMore, midLine
			case in[pos+2] == '\n':
				return pos, bodyEnd, midLine
			default:
				return pos, bodyBare, midLine
			}
		}
		rest := in[pos:]
		lf := bytes.IndexByte(rest, '\n')
		line := rest
		if lf >= 0 {
			line = rest[:lf]
		}
		cr := bytes.IndexByte(line, '\r')
		switch {
		case lf < 0 && cr < 0:
			return len(in), bodyMore, true
		case lf < 0 && cr == len(rest)-1:
			// The CR waits for its LF.
			return pos + cr, bodyMore, midLine || cr > 0
		case lf < 0:
			return pos + cr, bodyBare, midLine
		case cr >= 0 && cr < lf-1:
			return pos + cr, bodyBare, midLine
		case cr < 0:
			return pos + lf, bodyBare, midLine
		}
		pos += lf + 1
		midLine = false
	}
	return pos, bodyMore, midLine
}
