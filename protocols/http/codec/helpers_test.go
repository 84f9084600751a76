package codec

import (
	"errors"
	"strings"
	"testing"
)

// statusOf is the Status of a refusal, 0 for none, -1 for a foreign error.
func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	if err != nil {
		return -1
	}
	return 0
}

// growing feeds a parser ever longer prefixes of data, as the engine does
// when bytes trickle in, and returns the first verdict.
func growing[H any](data []byte, parse func([]byte) (*H, int, error)) (*H, int, error) {
	for i := 0; i <= len(data); i++ {
		h, n, err := parse(data[:i])
		if h != nil || err != nil {
			return h, n, err
		}
	}
	return nil, 0, nil
}

// parseReq parses whole and byte by byte and insists on the same verdict.
func parseReq(t *testing.T, in string, lim Limits) (*RequestHead, int, error) {
	t.Helper()
	h, n, err := ParseRequestHead([]byte(in), lim)
	p := RequestParser{Limits: lim}
	h2, n2, err2 := growing([]byte(in), p.Parse)
	if n != n2 || err != err2 || (h == nil) != (h2 == nil) {
		t.Fatalf("byte-at-a-time differs: whole (%v, %d, %v), growing (%v, %d, %v)", h != nil, n, err, h2 != nil, n2, err2)
	}
	if n < 0 || n > len(in) {
		t.Fatalf("n = %d of %d", n, len(in))
	}
	return h, n, err
}

// parseStatus is parseReq insisting on the status want (0 for a head).
func parseStatus(t *testing.T, in string, lim Limits, want int) (*RequestHead, int, error) {
	t.Helper()
	h, n, err := parseReq(t, in, lim)
	if got := statusOf(err); got != want {
		t.Fatalf("status %d (%v), want %d", got, err, want)
	}
	return h, n, err
}

func parseResp(t *testing.T, in string, lim Limits) (*ResponseHead, int, error) {
	t.Helper()
	h, n, err := ParseResponseHead([]byte(in), lim)
	p := ResponseParser{Limits: lim}
	h2, n2, err2 := growing([]byte(in), p.Parse)
	if n != n2 || statusOf(err) != statusOf(err2) || (h == nil) != (h2 == nil) {
		t.Fatalf("byte-at-a-time differs: whole (%v, %d, %v), growing (%v, %d, %v)", h != nil, n, err, h2 != nil, n2, err2)
	}
	if err != nil && err.Error() != err2.Error() {
		t.Fatalf("byte-at-a-time differs: %v, %v", err, err2)
	}
	return h, n, err
}

// crlf turns "|" into CRLF so that tables stay readable.
func crlf(s string) string { return strings.ReplaceAll(s, "|", "\r\n") }
