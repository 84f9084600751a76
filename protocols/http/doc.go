// Package httpx is switchyard's sans-IO HTTP/1.1 message framing: request
// and response heads, the body framers, and the rules for what crosses the
// proxy, and Relay, the machine that routes each request to its account's
// backend (JMAP, WebDAV, WebSocket, per-request routing). It never touches
// a socket, a goroutine or a clock.
//
// The directory is protocols/http, the package name httpx: code that also
// imports net/http (the admin API, tests) can then use both without an
// alias, and a reader never mistakes httpx.ParseRequestHead for the
// standard library's lenient parser.
//
// Everything here is strict on purpose. A proxy that parses a message one
// way while the backend parses it another is the root of request smuggling
// (CL.TE, TE.CL, TE.TE and friends), so anything two implementations could
// read differently is refused with the status the engine should answer
// with, and what is forwarded is re-rendered in one canonical form (a
// single Content-Length, "Transfer-Encoding: chunked", one Host) rather
// than copied. See README.md for the rules.
package httpx
