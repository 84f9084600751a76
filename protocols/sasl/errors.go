package sasl

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/switchyard-mail/switchyard/limits"
)

var (
	// ErrUnsupported is returned for a mechanism switchyard does not decode.
	ErrUnsupported = errors.New("sasl: unsupported mechanism")
	// ErrMalformed is returned, wrapped with a short reason, for a client
	// message that does not follow the mechanism's syntax or limits.
	ErrMalformed = errors.New("sasl: malformed message")
)

// Limits on what a client may present. They bound memory and keep the
// re-encoded message within what backends accept.
const (
	// MaxFieldLen bounds user names, authorization identities and passwords.
	MaxFieldLen = limits.SASLMaxFieldLen
	// MaxTokenLen bounds an OAuth bearer token.
	MaxTokenLen = limits.MaxTokenLen
	// maxMessageLen bounds one decoded client message of any mechanism.
	maxMessageLen = MaxTokenLen + 4*MaxFieldLen
)

func malformed(reason string) error {
	return fmt.Errorf("%w: %s", ErrMalformed, reason)
}

// checkText validates a field that must be UTF-8 without NUL.
func checkText(what string, b []byte, max int, required bool) error {
	switch {
	case len(b) == 0 && required:
		return malformed("empty " + what)
	case len(b) > max:
		return malformed(what + " too long")
	case !utf8.Valid(b):
		return malformed(what + " is not valid UTF-8")
	}
	for _, c := range b {
		if c == 0 {
			return malformed(what + " contains NUL")
		}
	}
	return nil
}
