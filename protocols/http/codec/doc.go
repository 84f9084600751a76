// Package codec is switchyard's sans-IO HTTP/1.1 message framing: request
// and response heads, field rules, chunked and length bodies, limits, and
// the canonical heads written to the backend and to the client. It never
// touches a socket, a goroutine or a clock.
//
// Everything here is strict on purpose: anything two HTTP implementations
// could read differently (the root of request smuggling) is refused with
// the status to answer with, and what is forwarded is written out again in
// one canonical form rather than copied. See README.md for the rules.
package codec
