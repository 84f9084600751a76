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

// The errors are allocated once: refusing a message costs nothing.
var (
	// Line framing and limits.
	errBareLF          = &Error{400, "line not ended by CRLF"}
	errHeadTooLarge    = &Error{431, "header section too large"}
	errTooManyFields   = &Error{431, "too many header fields"}
	errFieldTooLong    = &Error{431, "header field line too long"}
	errLineTooLong     = &Error{414, "request line too long"}
	errTargetTooLong   = &Error{414, "request-target too long"}
	errEmptyStatusLine = &Error{400, "empty line before the status line"}

	// Request line.
	errRequestLine   = &Error{400, "malformed request line"}
	errMethod        = &Error{400, "invalid method"}
	errMethodTooLong = &Error{501, "method not implemented"}
	errVersion       = &Error{400, "malformed HTTP version"}
	errVersionNotSup = &Error{505, "HTTP version not supported"}
	errTarget        = &Error{400, "invalid request-target"}
	errAsterisk      = &Error{400, "asterisk-form is only for OPTIONS"}
	errAuthorityForm = &Error{400, "authority-form is only for CONNECT"}
	errConnectTarget = &Error{400, "CONNECT needs host:port"}
	errScheme        = &Error{400, "absolute-form scheme must be http or https"}
	errUserinfo      = &Error{400, "userinfo in request-target"}
	errConnectBody   = &Error{400, "CONNECT request with content"}
	errUpgradeBody   = &Error{400, "upgrade request with content"}

	// Field lines.
	errObsFold       = &Error{400, "obsolete line folding"}
	errNoColon       = &Error{400, "header field line without colon"}
	errFieldName     = &Error{400, "invalid header field name"}
	errSpaceColon    = &Error{400, "whitespace between field name and colon"}
	errFieldValue    = &Error{400, "invalid character in header field value"}
	errLookalikeName = &Error{400, "underscore in a framing header name"}

	// Fields with meaning.
	errNoHost       = &Error{400, "missing Host"}
	errDupHost      = &Error{400, "more than one Host"}
	errHost         = &Error{400, "invalid Host"}
	errCL           = &Error{400, "invalid Content-Length"}
	errCLMismatch   = &Error{400, "conflicting Content-Length"}
	errCLAndTE      = &Error{400, "both Content-Length and Transfer-Encoding"}
	errTE10         = &Error{400, "Transfer-Encoding in HTTP/1.0"}
	errTE           = &Error{400, "malformed Transfer-Encoding"}
	errTENotChunked = &Error{400, "final transfer coding is not chunked"}
	errChunkedTwice = &Error{400, "chunked applied more than once"}
	errTEUnknown    = &Error{501, "transfer coding not implemented"}
	errConnection   = &Error{400, "malformed Connection"}
	errConnTooMany  = &Error{400, "too many connection options"}
	errExpect       = &Error{417, "unsupported expectation"}
	errDupAuth      = &Error{400, "more than one Authorization"}

	// Response-only.
	errStatusLine = &Error{502, "malformed status line"}
	errStatusCode = &Error{502, "invalid status code"}
	errRespTE     = &Error{502, "unsupported transfer coding in response"}

	// Chunked bodies.
	errChunkSize      = &Error{400, "invalid chunk size"}
	errChunkTooBig    = &Error{400, "chunk size overflows"}
	errChunkLine      = &Error{400, "chunk size line too long"}
	errChunkExt       = &Error{400, "malformed chunk extension"}
	errChunkExtTotal  = &Error{400, "too many chunk extension bytes"}
	errChunkCRLF      = &Error{400, "chunk data not followed by CRLF"}
	errTrailer        = &Error{400, "malformed trailer field"}
	errTrailerTooBig  = &Error{400, "trailer section too large"}
	errTrailerFraming = &Error{400, "framing field in trailers"}
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
