package imap

import "bytes"

// GreetingReady judges one line of what an IMAP server sends on connect,
// for active health checks: ready when it is "* OK" (RFC 9051 section
// 7.1.1; PREAUTH and BYE are not ready). An IMAP greeting is one line, so
// final is always true. line may or may not end with its CRLF.
func GreetingReady(line []byte) (ready, final bool) {
	return bytes.HasPrefix(line, []byte("* OK")), true
}
