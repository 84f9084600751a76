package smtp

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols"
)

// The message goes to the backend verbatim, dot-stuffing and all, in the
// pieces the client sent it: the machine only looks at the dots that start
// a line, to find the end of data "CRLF . CRLF" (RFC 5321 section 4.1.1.4).
//
// A dot next to a bare CR or LF ("\n.\n", "\r\n.\n", "\r.\r" ...) is
// where SMTP smuggling lives: a backend that takes it for the end of data
// would read what follows as new commands that the proxy never saw. Such a
// message is not forwarded further and its end of data is never sent.

// bodyScan follows one message from the client.
type bodyScan struct {
	size    int64   // octets forwarded, end of data excluded
	prev    [2]byte // the last two octets of the message so far
	skip    uint8   // skipping: 0 mid-line, 1 after LF, 2 after LF ".", 3 after LF ".\r"
	owed    int     // end-of-data replies owed: 1, LMTP one per accepted recipient
	refusal string  // the reply to a message that is being skipped
}

// bodyEvent is what scanBody found.
type bodyEvent uint8

const (
	bodyAll     bodyEvent = iota // everything is message content
	bodyMore                     // content, then a line-start dot that needs the next octets
	bodyEnd                      // content, then the end of data
	bodySuspect                  // content, then a dot next to a bare CR or LF
)

func (r *Relay) startBody() {
	owed := 1
	if r.cfg.LMTP {
		owed = r.tx.accepted
	}
	r.phase = cpBody
	r.body = bodyScan{prev: [2]byte{'\r', '\n'}, owed: owed}
}

// feedBody forwards or skips message octets. more reports that all of in
// was used up (or the rest needs more octets).
func (r *Relay) feedBody(in []byte, o *protocols.RelayOut) (n int, ev protocols.RelayEvent, more bool) {
	if r.phase == cpDiscard {
		n, done := r.skipBody(in, o)
		return n, protocols.RelayNone, !done
	}
	k, found := r.scanBody(in)
	if limit := r.cfg.MaxMessageSize; limit > 0 && r.body.size+int64(k) > limit {
		return r.abortBody(in, 0, replySizeLimit, o)
	}
	r.body.size += int64(k)
	switch found {
	case bodyEnd:
		o.Backend = append(o.Backend, in[:k+3]...)
		r.phase = cpFinal
		r.leg.phase = lgDot
		return k + 3, protocols.RelayNone, false
	case bodySuspect:
		r.body.advance(in[:k])
		return r.abortBody(in, k, replyBareEOL, o)
	}
	o.Backend = append(o.Backend, in[:k]...)
	r.body.advance(in[:k])
	return k, protocols.RelayNone, true
}

// abortBody drops the leg without ever sending the end of data (the
// backend discards a message that never ended) and skips the message from
// in[at:] on; refusal answers it.
func (r *Relay) abortBody(in []byte, at int, refusal string, o *protocols.RelayOut) (int, protocols.RelayEvent, bool) {
	r.leg = relayLeg{}
	r.discardBody(refusal)
	n, _ := r.skipBody(in[at:], o)
	return at + n, protocols.RelayDisconnect, false
}

// discardBody switches to skipping the rest of the message.
func (r *Relay) discardBody(refusal string) {
	r.phase = cpDiscard
	r.body.refusal = refusal
	r.body.skip = 0
	if r.body.prev[1] == '\n' {
		r.body.skip = 1
	}
}

// scanBody returns how much of in is plain content and what follows it.
func (r *Relay) scanBody(in []byte) (int, bodyEvent) {
	for pos := 0; ; {
		j := bytes.IndexByte(in[pos:], '.')
		if j < 0 {
			return len(in), bodyAll
		}
		i := pos + j
		pos = i + 1
		b0, b1 := r.body.prev[0], r.body.prev[1]
		switch i {
		case 0:
		case 1:
			b0, b1 = b1, in[0]
		default:
			b0, b1 = in[i-2], in[i-1]
		}
		if b1 != '\r' && b1 != '\n' {
			continue
		}
		if i+1 == len(in) {
			return i, bodyMore
		}
		next := in[i+1]
		if next != '\r' && next != '\n' {
			continue // a line starting with a dot, or a stuffed one
		}
		if b0 == '\r' && b1 == '\n' && next == '\r' {
			if i+2 == len(in) {
				return i, bodyMore
			}
			if in[i+2] == '\n' {
				return i, bodyEnd
			}
		}
		return i, bodySuspect
	}
}

// advance remembers the last octets of the message.
func (b *bodyScan) advance(p []byte) {
	switch len(p) {
	case 0:
	case 1:
		b.prev = [2]byte{b.prev[1], p[0]}
	default:
		b.prev = [2]byte{p[len(p)-2], p[len(p)-1]}
	}
}

// skipBody swallows a refused message up to its end, then answers it.
// While skipping nothing reaches a backend, so a lone dot ended by a bare
// LF is taken as the end too, as Postfix does.
func (r *Relay) skipBody(in []byte, o *protocols.RelayOut) (int, bool) {
	st := r.body.skip
	for i := 0; i < len(in); {
		if st == 0 {
			j := bytes.IndexByte(in[i:], '\n')
			if j < 0 {
				break
			}
			i += j + 1
			st = 1
			continue
		}
		c := in[i]
		i++
		switch {
		case c == '\n' && st >= 2:
			for range r.body.owed {
				o.Client = append(o.Client, r.body.refusal...)
			}
			r.transactionOver()
			return i, true
		case c == '\n':
			st = 1
		case c == '.' && st == 1:
			st = 2
		case c == '\r' && st == 2:
			st = 3
		default:
			st = 0
		}
	}
	r.body.skip = st
	return len(in), false
}
