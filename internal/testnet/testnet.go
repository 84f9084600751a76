// Package testnet holds loopback helpers for tests.
//
// The rule it serves: a test never picks a "free" port to bind later (or
// to leave unbound), because another test or process may take it in
// between. A test listener binds 127.0.0.1:0 and hands its real address
// on; an address that must refuse connections is held by RefusingAddr.
package testnet

import "testing"

// RefusingAddr returns "127.0.0.1:PORT" where every connection is refused
// until the test ends. On Linux a socket bound to PORT without listening
// holds it: the kernel answers SYNs with a reset, and no other socket can
// listen there (a closed listener's port could be taken by anyone).
func RefusingAddr(t testing.TB) string {
	t.Helper()
	addr, release, err := refusing()
	if err != nil {
		t.Fatalf("testnet.RefusingAddr: %v", err)
	}
	t.Cleanup(release)
	return addr
}
