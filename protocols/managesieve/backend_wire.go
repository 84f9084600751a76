package managesieve

import (
	"strings"

	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/cursor"
)

// maxResponse bounds one backend response, literals included.
const maxResponse = limits.SieveMaxBackendReply

// response is one complete backend response.
type response struct {
	kind   byte   // 'o' OK, 'n' NO, 'b' BYE, 's' a string first (capability or challenge)
	code   []byte // response code atom inside (...), upper-cased
	first  []byte // the leading string (kind 's')
	second []byte // a capability's value, if any (kind 's')
	raw    []byte // the whole response including its terminator
}

func parseResponse(raw []byte) (response, bool) {
	resp := response{raw: raw}
	r := reader{cursor.Cursor{B: raw}}
	if c := r.Peek(); c == '"' || c == '{' {
		s, ok := r.str()
		if !ok {
			return resp, false
		}
		resp.kind, resp.first = 's', s
		if r.SP() {
			if resp.second, ok = r.str(); !ok {
				return resp, false
			}
		}
		return resp, r.EOL()
	}
	var buf [8]byte
	switch string(ascii.Upper(buf[:], r.atom())) {
	case "OK":
		resp.kind = 'o'
	case "NO":
		resp.kind = 'n'
	case "BYE":
		resp.kind = 'b'
	default:
		return resp, false
	}
	if r.SP() && r.Peek() == '(' {
		r.Pos++
		var cb [32]byte
		resp.code = ascii.Upper(cb[:], r.atom())
		resp.code = append([]byte(nil), resp.code...)
	}
	return resp, true
}

// capSet is what the replay needs from a backend's capability block.
type capSet struct {
	starttls bool
	mechs    []string // SASL mechanisms, upper-cased
	xclient  []string // XCLIENT attributes; nil: not advertised
}

func (c *capSet) add(name, value []byte) {
	switch strings.ToUpper(string(name)) {
	case "STARTTLS":
		c.starttls = true
	case "SASL":
		c.mechs = strings.Fields(strings.ToUpper(string(value)))
	case "XCLIENT":
		c.xclient = forward.ParseXClientCapability("XCLIENT " + string(value))
	}
}

func (c *capSet) hasMech(m string) bool {
	for _, x := range c.mechs {
		if x == m {
			return true
		}
	}
	return false
}
