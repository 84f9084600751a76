package sasl

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Choice is how a backend replays one client's credentials (ForBackend).
type Choice struct {
	// Mech is the mechanism to authenticate with and IR its initial
	// response. Mech is "" for PLAIN or LOGIN credentials that cannot go
	// as PLAIN (the backend does not offer it, or PlainErr): the
	// protocol's other way (LOGIN, USER and PASS) may take them.
	Mech string
	IR   []byte
	// PlainErr is why PLAIN or LOGIN credentials do not encode as PLAIN,
	// whether the backend offers it or not.
	PlainErr error
}

// ForBackend chooses how credentials c go to a backend that advertises
// the mechanisms offers reports (canonical names), the start every
// backend machine shares: PLAIN or LOGIN credentials as PLAIN when it is
// offered; OAUTHBEARER and XOAUTH2 as themselves, which must be offered
// (else notOffered, a format with %s for the mechanism). Any other
// mechanism is an error that name starts ("pop3 backend").
func ForBackend(c Credentials, offers func(mech string) bool, name, notOffered string) (Choice, error) {
	mech := strings.ToUpper(c.Mechanism)
	switch mech {
	case Plain, Login:
		c.Mechanism = Plain
		ir, err := encodePlain(c)
		if err != nil || !offers(Plain) {
			return Choice{PlainErr: err}, nil
		}
		return Choice{Mech: Plain, IR: ir}, nil
	case OAuthBearer, XOAuth2:
		if !offers(mech) {
			return Choice{}, fmt.Errorf(notOffered, mech)
		}
		ir, err := InitialResponse(c)
		return Choice{Mech: mech, IR: ir}, err
	}
	return Choice{}, errors.New(name + ": cannot replay mechanism " + strconv.Quote(c.Mechanism))
}

// AppendIR appends an initial response sent on the command line: base64,
// "=" when it is empty (RFC 4954, 4959, 5034).
func AppendIR(dst, ir []byte) []byte {
	if len(ir) == 0 {
		return append(dst, '=')
	}
	return base64.StdEncoding.AppendEncode(dst, ir)
}
