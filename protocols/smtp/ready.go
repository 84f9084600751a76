package smtp

import "bytes"

// GreetingReady judges the first line of what an SMTP or LMTP server sends
// on connect, for active health checks: ready when its code is 220 (RFC
// 5321 section 4.2; 554 and 421 are not ready). The first line decides, so
// final is always true. line may or may not end with its CRLF.
func GreetingReady(line []byte) (ready, final bool) {
	return bytes.HasPrefix(line, []byte("220")), true
}
