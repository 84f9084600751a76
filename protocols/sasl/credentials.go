// Package sasl decodes the client side of the SASL mechanisms switchyard
// accepts (PLAIN, LOGIN, OAUTHBEARER, XOAUTH2), extracts the routing
// identifier and encodes the same credentials again for the backend.
package sasl

// Mechanism names as they appear on the wire.
const (
	Plain       = "PLAIN"
	Login       = "LOGIN"
	OAuthBearer = "OAUTHBEARER"
	XOAuth2     = "XOAUTH2"
)

// Credentials are what a client presented. They live only in memory for the
// length of one login and are never logged: String redacts them.
type Credentials struct {
	// Mechanism is one of the constants above; "LOGIN" also stands for the
	// IMAP LOGIN command and POP3 USER/PASS.
	Mechanism string
	// Authzid is the authorization identity (PLAIN), or empty.
	Authzid string
	// Username is the authentication identity: PLAIN/LOGIN authcid, the
	// OAUTHBEARER a= attribute, the XOAUTH2 user= attribute.
	Username string
	// Password is the PLAIN/LOGIN password.
	Password string
	// Token is the OAuth bearer token (OAUTHBEARER, XOAUTH2).
	Token string
	// Host and Port are OAUTHBEARER's optional host= and port= attributes.
	Host string
	Port string
}

// String never prints secrets.
func (c Credentials) String() string {
	return c.Mechanism + " user=" + quoteForLog(c.Username) + " (secret redacted)"
}

func quoteForLog(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s) && i < 256; i++ {
		ch := s[i]
		if ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\' {
			b = append(b, '?')
			continue
		}
		b = append(b, ch)
	}
	return string(append(b, '"'))
}
