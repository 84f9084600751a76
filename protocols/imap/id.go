package imap

import (
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
)

// The ID command (RFC 2971): id-params-list = "(" *(string SP nstring) ")"
// or NIL; at most 30 pairs, field names of at most 30 octets, values of at
// most 1024.

const (
	maxIDPairs    = 30
	maxIDFieldLen = 30
	maxIDValueLen = 1024
)

// id stores the client's parameters for Login.ClientID and answers with
// ours. A NIL value is kept as an empty string; pairs past the 30th are
// dropped.
func (s *Server) id(r *reader, tag, out []byte) []byte {
	if !r.SP() {
		return badArgs(out, tag)
	}
	var pairs []string
	if r.Peek() == '(' {
		r.Pos++
		for r.Peek() != ')' {
			if len(pairs) > 0 && !r.SP() {
				return badArgs(out, tag)
			}
			k, kNil, err := r.nstring()
			if err != nil || kNil || !r.SP() {
				return badArgs(out, tag)
			}
			v, vNil, err := r.nstring()
			if err != nil || len(k) > maxIDFieldLen || len(v) > maxIDValueLen {
				return badArgs(out, tag)
			}
			if vNil {
				v = nil
			}
			if len(pairs) < 2*maxIDPairs {
				pairs = append(pairs, string(k), string(v))
			}
		}
		r.Pos++
	} else if a := r.atom(); string(ascii.Upper(make([]byte, len(a)), a)) != "NIL" {
		return badArgs(out, tag)
	}
	if !r.EOL() {
		return badArgs(out, tag)
	}
	s.clientID = pairs
	out = append(out, "* ID "...)
	out = appendIDList(out, s.cfg.ServerID)
	out = append(out, "\r\n"...)
	return appendTagged(out, tag, "OK ID completed.")
}

// appendIDList appends ("k" "v" ...) or NIL.
func appendIDList(out []byte, pairs []string) []byte {
	if len(pairs) < 2 {
		return append(out, "NIL"...)
	}
	out = append(out, '(')
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			out = append(out, ' ')
		}
		out = appendQuoted(out, pairs[i])
		out = append(out, ' ')
		out = appendQuoted(out, pairs[i+1])
	}
	return append(out, ')')
}
