package engine

// Auth outcomes (the admin package's label values).
const (
	outcomeSuccess        = "success"
	outcomeFailure        = "failure"
	outcomeBackendFailure = "backend_failure"
	outcomeNoRoute        = "no_route"
	outcomeTempFail       = "tempfail"
	outcomeBadInput       = "bad_input"
)
