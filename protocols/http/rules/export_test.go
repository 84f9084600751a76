package rules

// The helpers extract_test.go checks, for the external test package (it
// shares rulestest with the relay, and rulestest imports rules).
var (
	QueryParam      = queryParam
	AuthIdentity    = authIdentity
	ValidIdentifier = validIdentifier
)

func (e *Extract) Refine(v string) string { return e.refine(v) }
