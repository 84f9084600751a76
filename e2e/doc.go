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
// fails. The helpers are meant to be reused by every protocol's suite:
// e2e/harness (processes, ports, logs, certificates, the switchyard binary
// and its configuration), e2e/peers (Dovecot, Postfix, nginx) and the
// clients in this package (clients*.go, rawimap.go).
package e2e
