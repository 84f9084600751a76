package frontend

import (
	"cmp"

	"github.com/switchyard-mail/switchyard/limits"
)

// Mechanisms are the SASL mechanisms a ServerConfig offers by default.
var Mechanisms = []string{"PLAIN", "LOGIN", "OAUTHBEARER", "XOAUTH2"}

// Default replaces a setting left at its zero value (a bound: zero or
// less) by def.
func Default[T cmp.Ordered](v *T, def T) {
	var zero T
	if *v <= zero {
		*v = def
	}
}

// DefaultList replaces a list left nil by def.
func DefaultList(v *[]string, def []string) {
	if *v == nil {
		*v = def
	}
}

// Defaults fills what every ServerConfig has: the SASL mechanisms offered
// and the refused logins allowed.
func Defaults(sasl *[]string, attempts *int) {
	DefaultList(sasl, Mechanisms)
	Default(attempts, limits.MaxAuthAttempts)
}

// AuthLine defaults the bound on an AUTH line or SASL response, which is
// never below the command line's (line).
func AuthLine(v *int, line int) {
	Default(v, limits.MaxAuthLine)
	*v = max(*v, line)
}
