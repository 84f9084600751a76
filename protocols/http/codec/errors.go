package codec

import "strconv"

// Error is a refused message. Status is what the engine answers the client
// with: 400, 414, 417, 431, 501 or 505 for a request, 502 for anything
// wrong with a backend's response. Reason is short, fixed text that may be
// shown to the client (it never quotes the peer's bytes).
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string {
	return "http: " + strconv.Itoa(e.Status) + " " + e.Reason
}

// AppendResponse appends a complete response for the error: status line,
// a short text/plain body with the reason, and Connection: close (after a
// framing error the rest of the stream cannot be trusted).
func (e *Error) AppendResponse(dst []byte) []byte {
	return AppendLocal(dst, e.Status, nil, true, "", e.Reason)
}

// StatusText is the reason phrase for the statuses this package produces
// (and a few the engine is likely to need); "" for others.
func StatusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
	case 421:
		return "Misdirected Request"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}

func bad(reason string) *Error { return &Error{Status: 400, Reason: reason} }

// The errors are allocated once: refusing a message costs nothing.
var (
	// Line framing and limits.
	errBareLF          = bad("line not ended by CRLF")
	errHeadTooLarge    = &Error{431, "header section too large"}
	errTooManyFields   = &Error{431, "too many header fields"}
	errFieldTooLong    = &Error{431, "header field line too long"}
	errLineTooLong     = &Error{414, "request line too long"}
	errTargetTooLong   = &Error{414, "request-target too long"}
	errEmptyStatusLine = bad("empty line before the status line")

	// Request line.
	errRequestLine   = bad("malformed request line")
	errMethod        = bad("invalid method")
	errMethodTooLong = &Error{501, "method not implemented"}
	errVersion       = bad("malformed HTTP version")
	errVersionNotSup = &Error{505, "HTTP version not supported"}
	errTarget        = bad("invalid request-target")
	errAsterisk      = bad("asterisk-form is only for OPTIONS")
	errAuthorityForm = bad("authority-form is only for CONNECT")
	errConnectTarget = bad("CONNECT needs host:port")
	errScheme        = bad("absolute-form scheme must be http or https")
	errUserinfo      = bad("userinfo in request-target")
	errConnectBody   = bad("CONNECT request with content")
	errUpgradeBody   = bad("upgrade request with content")

	// Field lines.
	errObsFold       = bad("obsolete line folding")
	errNoColon       = bad("header field line without colon")
	errFieldName     = bad("invalid header field name")
	errSpaceColon    = bad("whitespace between field name and colon")
	errFieldValue    = bad("invalid character in header field value")
	errLookalikeName = bad("underscore in a framing header name")

	// Fields with meaning.
	errNoHost       = bad("missing Host")
	errDupHost      = bad("more than one Host")
	errHost         = bad("invalid Host")
	errCL           = bad("invalid Content-Length")
	errCLMismatch   = bad("conflicting Content-Length")
	errCLAndTE      = bad("both Content-Length and Transfer-Encoding")
	errTE10         = bad("Transfer-Encoding in HTTP/1.0")
	errTE           = bad("malformed Transfer-Encoding")
	errTENotChunked = bad("final transfer coding is not chunked")
	errChunkedTwice = bad("chunked applied more than once")
	errTEUnknown    = &Error{501, "transfer coding not implemented"}
	errConnection   = bad("malformed Connection")
	errConnTooMany  = bad("too many connection options")
	errExpect       = &Error{417, "unsupported expectation"}
	errDupAuth      = bad("more than one Authorization")

	// Response-only.
	errStatusLine = &Error{502, "malformed status line"}
	errStatusCode = &Error{502, "invalid status code"}
	errRespTE     = &Error{502, "unsupported transfer coding in response"}

	// Chunked bodies.
	errChunkSize      = bad("invalid chunk size")
	errChunkTooBig    = bad("chunk size overflows")
	errChunkLine      = bad("chunk size line too long")
	errChunkExt       = bad("malformed chunk extension")
	errChunkExtTotal  = bad("too many chunk extension bytes")
	errChunkCRLF      = bad("chunk data not followed by CRLF")
	errTrailer        = bad("malformed trailer field")
	errTrailerTooBig  = bad("trailer section too large")
	errTrailerFraming = bad("framing field in trailers")
)

// asResponse turns a request-side refusal into the 502 owed to a client
// when it was the backend's response that was wrong.
func asResponse(e *Error) *Error {
	if e.Status == 502 {
		return e
	}
	return &Error{Status: 502, Reason: e.Reason}
}

// AppendLocal appends a response the proxy makes itself: a short
// text/plain body (none for HEAD), extra fields (each ending in CRLF),
// and Connection: close when the connection ends after it. req is the
// request answered, nil for none.
func AppendLocal(dst []byte, status int, req *RequestHead, close bool, extra, reason string) []byte {
	text := StatusText(status)
	body := strconv.Itoa(status) + " " + text + ": " + reason + "\n"
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, text...)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\n"...)
	dst = AppendContentLength(dst, int64(len(body)))
	dst = append(dst, extra...)
	switch {
	case close:
		dst = append(dst, "Connection: close\r\n"...)
	case req != nil && req.Version == HTTP10:
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	if req == nil || req.Method != "HEAD" {
		dst = append(dst, body...)
	}
	return dst
}

// AppendContentLength appends a Content-Length field in plain decimal.
func AppendContentLength(dst []byte, n int64) []byte {
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, "\r\n"...)
}
