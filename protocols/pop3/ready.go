package pop3

import "bytes"

// GreetingReady judges one line of what a POP3 server sends on connect,
// for active health checks: ready when it is "+OK" (RFC 1939 section 4).
// A POP3 greeting is one line, so final is always true. line may or may
// not end with its CRLF.
func GreetingReady(line []byte) (ready, final bool) {
	return bytes.HasPrefix(line, []byte("+OK")), true
}
