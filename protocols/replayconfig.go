package protocols

import "github.com/switchyard-mail/switchyard/protocols/forward"

// ReplayConfig is what a driver tells a backend replay machine that
// forwards the client with XCLIENT (pop3, managesieve and smtp; IMAP
// forwards with ID instead and has its own). Each package says which
// refusals HideAuthErrors keeps and how it uses Forward.
type ReplayConfig struct {
	// Login is what the client presented.
	Login *Login
	// StartTLS runs the protocol's STARTTLS (POP3: STLS) before any
	// credential; the backend must offer it.
	StartTLS bool
	// Forward, when not nil, is sent with XCLIENT if the backend
	// advertises it, using only the attributes the backend lists
	// (forward.XClientArgs).
	Forward *forward.Info
	// HideAuthErrors replaces the backend's refusal by a generic one.
	HideAuthErrors bool
}
