package codec_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/http/codec"
	"github.com/switchyard-mail/switchyard/protocols/http/relay"
)

// A JMAP request as a web client sends it.
const jmapHead = "POST /jmap/api/ HTTP/1.1\r\n" +
	"Host: mail.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Content-Type: application/json; charset=utf-8\r\n" +
	"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZUBleGFtcGxlLmNvbSIsImV4cCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU\r\n" +
	"Content-Length: 312\r\n" +
	"Origin: https://mail.example.com\r\n" +
	"Connection: keep-alive\r\n" +
	"Sec-Fetch-Dest: empty\r\n" +
	"Sec-Fetch-Mode: cors\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"\r\n"

func BenchmarkParseRequestHead(b *testing.B) {
	buf := []byte(jmapHead)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		h, n, err := codec.ParseRequestHead(buf, codec.Limits{})
		if err != nil || n != len(buf) || h.ContentLength != 312 {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendForward (relay's) sits here to forward the head the
// parse benchmark reads.
func BenchmarkAppendForward(b *testing.B) {
	h, _, err := codec.ParseRequestHead([]byte(jmapHead), codec.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	opt := relay.ForwardOptions{Client: netip.MustParseAddrPort("192.0.2.1:51234"), TLS: true}
	out := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		out = relay.AppendForward(out[:0], h, opt)
	}
}

func BenchmarkParseResponseHead(b *testing.B) {
	buf := []byte("HTTP/1.1 200 OK\r\nServer: Stalwart\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n" +
		"Content-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: 2345\r\n\r\n")
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := codec.ParseResponseHead(buf, codec.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChunked frames a 64 KiB body sent in 4 KiB chunks.
func BenchmarkChunked(b *testing.B) {
	chunk := "1000\r\n" + strings.Repeat("x", 4096) + "\r\n"
	body := []byte(strings.Repeat(chunk, 16) + "0\r\n\r\n")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c := codec.NewChunkedBody(codec.Limits{})
		if n, done, err := c.Feed(body); n != len(body) || !done || err != nil {
			b.Fatal(n, done, err)
		}
	}
}
