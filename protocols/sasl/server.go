package sasl

import (
	"slices"
	"strings"
)

// Server decodes one client's side of a SASL exchange. It never verifies
// anything: it only extracts the credentials so that they can be routed and
// replayed. Inputs are already base64-decoded; the protocol packages handle
// base64, the "*" abort and the "=" empty initial response.
type Server struct {
	mech    string
	started bool
	done    bool
	step    uint8 // LOGIN: 0 waiting for the user name, 1 for the password
	creds   Credentials
}

// NewServer returns a decoder for mech (case-insensitive), or ErrUnsupported.
func NewServer(mech string) (*Server, error) {
	m := Canonical(mech)
	if m == "" {
		return nil, ErrUnsupported
	}
	return &Server{mech: m, creds: Credentials{Mechanism: m}}, nil
}

// Offered keeps the configured mechanisms this package decodes, in
// canonical spelling and without duplicates: what a server advertises.
func Offered(cfg []string) []string {
	out := make([]string, 0, len(cfg))
	for _, m := range cfg {
		c := Canonical(m)
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// Pick returns a Server for the mechanism the client named, when it is
// one of offered (Offered's list; ASCII case ignored), else nil.
func Pick(offered []string, name []byte) *Server {
	for _, m := range offered {
		if len(m) == len(name) && equalUpper(name, m) {
			s, _ := NewServer(m)
			return s
		}
	}
	return nil
}

// equalUpper reports whether b, upper-cased in ASCII, is upper.
func equalUpper(b []byte, upper string) bool {
	for i := range len(b) {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// Canonical returns the wire spelling of a mechanism this package decodes
// (matched case-insensitively), or "" for any other.
func Canonical(mech string) string {
	for _, m := range [...]string{Plain, Login, OAuthBearer, XOAuth2} {
		if strings.EqualFold(mech, m) {
			return m
		}
	}
	return ""
}

// Mechanism returns the canonical mechanism name.
func (s *Server) Mechanism() string { return s.mech }

// Start begins the exchange. hasIR says whether the client sent an initial
// response (ir, possibly empty). It returns the first challenge to send
// (possibly empty) unless done is true, in which case Credentials are
// complete.
func (s *Server) Start(ir []byte, hasIR bool) (challenge []byte, done bool, err error) {
	if s.started {
		return nil, false, s.fail("exchange already started")
	}
	s.started = true
	if s.mech == Login {
		if !hasIR || len(ir) == 0 {
			// An empty initial response carries no user name: ask for it.
			return []byte(loginUserChallenge), false, nil
		}
		return s.loginStep(ir)
	}
	if !hasIR {
		return []byte{}, false, nil
	}
	return s.Next(ir)
}

// Next consumes one client response and returns the next challenge, or
// done once the credentials are complete.
func (s *Server) Next(resp []byte) (challenge []byte, done bool, err error) {
	if !s.started || s.done {
		return nil, false, s.fail("unexpected response")
	}
	if len(resp) > maxMessageLen {
		return nil, false, s.fail("message too long")
	}
	switch s.mech {
	case Plain:
		err = decodePlain(resp, &s.creds)
	case Login:
		return s.loginStep(resp)
	case OAuthBearer:
		err = decodeOAuthBearer(resp, &s.creds)
	case XOAuth2:
		err = decodeXOAuth2(resp, &s.creds)
	}
	if err != nil {
		s.done = true
		s.creds = Credentials{Mechanism: s.mech}
		return nil, false, err
	}
	s.done = true
	return nil, true, nil
}

// Credentials returns what the client presented. It is complete only after
// Start or Next reported done.
func (s *Server) Credentials() Credentials { return s.creds }

func (s *Server) fail(reason string) error {
	s.done = true
	s.creds = Credentials{Mechanism: s.mech}
	return malformed(reason)
}
