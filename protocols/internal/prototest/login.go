package prototest

import (
	"net/netip"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// PasswordLogin is a login with a password under mech, as a Server hands
// it to a Backend.
func PasswordLogin(mech, user, pass string) *protocols.Login {
	return &protocols.Login{Creds: sasl.Credentials{Mechanism: mech, Username: user, Password: pass}}
}

// BearerLogin is a token login (OAUTHBEARER or XOAUTH2) for u@example.com
// with the token "tok".
func BearerLogin(mech string) *protocols.Login {
	return &protocols.Login{Creds: sasl.Credentials{Mechanism: mech, Username: "u@example.com", Token: "tok"}}
}

// ForwardInfo is the client's facts a backend test forwards (XCLIENT) for
// session sy-42; its Proto is one a non-SMTP machine must ignore (and the
// smtp Backend's own default).
func ForwardInfo(client, local string, ttl int) *forward.Info {
	return &forward.Info{
		Client:    netip.MustParseAddrPort(client),
		Local:     netip.MustParseAddrPort(local),
		SessionID: "sy-42",
		TTL:       ttl,
		Proto:     "ESMTP", // must be ignored
	}
}
