// Package e2e holds switchyard's end-to-end tests: real servers (Dovecot),
// real clients (Python imaplib, curl, Cyrus imtest) and the switchyard
// binary itself, all started by the tests on loopback.
//
// The suite is off in plain unit runs. Enable it with
//
//	SWITCHYARD_E2E=1 go test ./e2e/...
//
// A test whose peer binary (dovecot, python3, curl, imtest) is missing is
// skipped, unless SWITCHYARD_E2E_REQUIRE=1 (set by CI), in which case it
// fails. The exported helpers (harness.go, dovecot.go, clients.go,
// switchyard.go) are meant to be reused by every protocol's suite.
package e2e
