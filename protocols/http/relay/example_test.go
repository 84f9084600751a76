package relay_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/switchyard-mail/switchyard/protocols/http/codec"
	"github.com/switchyard-mail/switchyard/protocols/http/relay"
)

// The engine's loop for one request: parse the head from whatever has
// arrived, forward it, then pass the body through as the framer says.
func Example() {
	in := []byte("POST /jmap/api HTTP/1.1\r\nHost: mail.example.com\r\nConnection: keep-alive\r\n" +
		"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\nGET /next HTTP/1.1\r\n")

	var p codec.RequestParser
	h, n, err := p.Parse(in)
	if err != nil {
		out := err.(*codec.Error).AppendResponse(nil) // answer the client, then close
		fmt.Printf("%s", out)
		return
	}
	if h == nil {
		return // read more, call Parse again with the grown buffer
	}
	head := relay.AppendForward(nil, h, relay.ForwardOptions{
		Client: netip.MustParseAddrPort("192.0.2.1:4711"),
		TLS:    true,
	})
	fmt.Print(strings.ReplaceAll(string(head), "\r\n", "\n"))

	kind, length := h.Body()
	body := codec.NewBody(kind, length, codec.Limits{})
	m, done, err := body.Feed(in[n:])
	fmt.Printf("body: %q done=%v err=%v\nnext: %q\n", in[n:n+m], done, err, in[n+m:])
	// Output:
	// POST /jmap/api HTTP/1.1
	// Host: mail.example.com
	// Transfer-Encoding: chunked
	// Forwarded: for="192.0.2.1:4711";proto=https;host=mail.example.com
	// X-Forwarded-For: 192.0.2.1
	// X-Forwarded-Proto: https
	//
	// body: "2\r\n{}\r\n0\r\n\r\n" done=true err=<nil>
	// next: "GET /next HTTP/1.1\r\n"
}
