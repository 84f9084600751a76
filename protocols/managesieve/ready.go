package managesieve

import "bytes"

// GreetingReady judges one line of what a ManageSieve server sends on
// connect, for active health checks. The greeting is the capability list
// followed by a response (RFC 5804 section 1.7): a capability line (a
// quoted string first) is not final, and the response is ready when it is
// OK. line may or may not end with its CRLF.
func GreetingReady(line []byte) (ready, final bool) {
	if len(line) > 0 && line[0] == '"' {
		return false, false
	}
	return bytes.HasPrefix(line, []byte("OK")), true
}
