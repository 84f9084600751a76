package imap

import (
	"bytes"
	"strings"

	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/cursor"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
)

// maxResponseLine bounds one backend response line, literals included.
const maxResponseLine = limits.IMAPMaxBackendLine

// response is one backend line, terminator removed.
type response struct {
	kind   byte   // '*' untagged, '+' continuation, 't' tagged
	tag    []byte // tagged only
	status []byte // OK NO BAD BYE PREAUTH, or the untagged keyword (CAPABILITY, ID...)
	code   []byte // response code inside [...], upper-cased atom only
	text   []byte // everything after the status
	line   []byte // the whole line including its terminator
}

// frameResponse finds the end of one response in in. Untagged data lines
// (not status responses) may carry literals, which are skipped. scan is
// how far earlier calls looked; the returned scan is saved while more
// input is needed.
func frameResponse(in []byte, scan int) (end int, nextScan int, tooLong bool) {
	if scan > len(in) {
		scan = 0 // stale offset: rescan
	}
	seg := 0
	for {
		i := bytes.IndexByte(in[max(seg, scan):], '\n')
		if i < 0 {
			if len(in) > maxResponseLine {
				return 0, 0, true
			}
			if seg > 0 {
				return 0, 0, false // after a literal: rescan from the start
			}
			return 0, len(in), false
		}
		lf := max(seg, scan) + i
		if lf+1 > maxResponseLine {
			return 0, 0, true
		}
		line := bytes.TrimSuffix(in[seg:lf], []byte("\r"))
		n, _, isLit := literalSuffix(line)
		if !isLit || !literalsAllowed(in) {
			return lf + 1, 0, false
		}
		if n > maxResponseLine {
			return 0, 0, true
		}
		seg = lf + 1 + int(n)
		if seg > len(in) {
			if seg > maxResponseLine {
				return 0, 0, true
			}
			return 0, 0, false // rescan from the start: bounded by the limit
		}
		scan = seg
	}
}

// literalsAllowed: only untagged data responses carry literals; status
// responses end with human text that may well end in "{3}".
func literalsAllowed(in []byte) bool {
	if len(in) < 2 || in[0] != '*' || in[1] != ' ' {
		return false
	}
	r := reader{cursor.Cursor{B: in, Pos: 2}}
	var buf [16]byte
	switch string(ascii.Upper(buf[:], r.atom())) {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		return false
	}
	return true
}

func parseResponse(line []byte) (response, bool) {
	resp := response{line: line}
	l := eol.Trim(line)
	if len(l) == 0 {
		return resp, false
	}
	if l[0] == '+' {
		resp.kind = '+'
		if len(l) > 1 {
			if l[1] != ' ' {
				return resp, false
			}
			resp.text = l[2:]
		}
		return resp, true
	}
	r := reader{cursor.Cursor{B: l}}
	if l[0] == '*' {
		resp.kind = '*'
		r.Pos = 1
	} else {
		resp.kind = 't'
		resp.tag = r.tag()
		if len(resp.tag) == 0 {
			return resp, false
		}
	}
	if !r.SP() {
		return resp, false
	}
	resp.status = r.atom()
	if len(resp.status) == 0 {
		return resp, false
	}
	r.SP()
	resp.text = l[r.Pos:]
	if len(resp.text) > 0 && resp.text[0] == '[' {
		r.Pos++
		resp.code = r.atom()
	}
	return resp, true
}

func (r *response) is(status string) bool { return bytes.EqualFold(r.status, []byte(status)) }

// capSet holds the backend capabilities the replay needs.
type capSet uint16

const (
	capIMAP capSet = 1 << iota
	capStartTLS
	capSASLIR
	capLiteralPlus
	capID
	capLoginDisabled
	capAuthPlain
	capAuthOAuthBearer
	capAuthXOAuth2
)

// parseCapabilities reads the atoms of a capability list.
func parseCapabilities(b []byte) capSet {
	var c capSet
	for _, f := range strings.Fields(string(b)) {
		switch strings.ToUpper(f) {
		case "IMAP4REV1", "IMAP4REV2":
			c |= capIMAP
		case "STARTTLS":
			c |= capStartTLS
		case "SASL-IR":
			c |= capSASLIR
		case "LITERAL+":
			c |= capLiteralPlus
		case "ID":
			c |= capID
		case "LOGINDISABLED":
			c |= capLoginDisabled
		case "AUTH=PLAIN":
			c |= capAuthPlain
		case "AUTH=OAUTHBEARER":
			c |= capAuthOAuthBearer
		case "AUTH=XOAUTH2":
			c |= capAuthXOAuth2
		}
	}
	return c
}

// codeCapabilities returns the capability list inside a [CAPABILITY ...]
// response code of text, if any.
func codeCapabilities(text []byte) ([]byte, bool) {
	const p = "[CAPABILITY "
	if len(text) < len(p) || !bytes.EqualFold(text[:len(p)], []byte(p)) {
		return nil, false
	}
	rest := text[len(p):]
	if i := bytes.IndexByte(rest, ']'); i >= 0 {
		return rest[:i], true
	}
	return nil, false
}
