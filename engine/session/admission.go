package session

import (
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// Admission is the admission gate's answer (engine/gate).
type Admission struct {
	Account string
	Res     router.Result
	Dest    *options.Destination
	DP      options.DestProtocol
	// Refusals: OK is false, Kind is the failure to report to the client,
	// Outcome the metrics label, Reason the log's words.
	OK      bool
	Kind    protocols.FailKind
	Outcome string
	Reason  string
}

// Refuse returns a with the refusal set.
func (a Admission) Refuse(kind protocols.FailKind, outcome, reason string) Admission {
	a.OK, a.Kind, a.Outcome, a.Reason = false, kind, outcome, reason
	return a
}

// AdmitRequest is what the gate needs to know.
type AdmitRequest struct {
	Proto   string
	Account string // normalized
	// Creds: credentials will be replayed (the plaintext policy applies).
	Creds bool
	// Fixed names the destination without routing (pass-through).
	Fixed string
}

// Auth outcomes (the admin package's label values).
const (
	OutcomeSuccess        = "success"
	OutcomeFailure        = "failure"
	OutcomeBackendFailure = "backend_failure"
	OutcomeNoRoute        = "no_route"
	OutcomeTempFail       = "tempfail"
	OutcomeBadInput       = "bad_input"
)
