package codec

// ChunkedBody frames a chunked body (RFC 9112 7.1) without changing it:
// fed octets, it says how many belong to the body and when the body ends
// (last chunk, trailer section, final CRLF). The proxy forwards chunked
// bodies verbatim; Decode is there for the one case that needs the data
// alone (a chunked response for an HTTP/1.0 client).
//
// It is a byte-level state machine that takes chunk data in bulk, so any
// split of the input gives the same result. It is stricter than the
// grammar where the grammar invites disagreement: the chunk size is 1 to
// 16 hex digits (no sign, no "0x", no whitespace, at most 2^63-1),
// extensions are ";name" or ";name=value" with no whitespace around ";"
// and "=" (the RFC's BWS), and the trailer fields follow the header field
// rules minus the fields that frame or route a message.
//
// On a refusal n is the offset of the first octet refused: everything
// before it is a valid prefix of a chunked body, so forwarding it and then
// closing the backend leg cannot make the backend see a different message
// boundary than the proxy did. The engine must close both legs then.
type ChunkedBody struct {
	maxLine, maxExt, maxTrailer int

	state   uint8
	digits  int   // hex digits of the current chunk size
	size    int64 // chunk size being read
	left    int64 // chunk-data octets still to come
	line    int   // octets of the current chunk-size line
	ext     int   // extension octets of the whole body
	trailer int   // trailer section octets
	nameLen int   // octets of the current trailer field name
	name    [20]byte
	err     *Error
}

const (
	csSize           = iota // chunk-size digits
	csExtName               // after ";": ext name
	csExtValue              // after "=": token or quoted-string
	csExtToken              // in a token value
	csExtQuoted             // in a quoted-string value
	csExtEscape             // after "\" in a quoted-string
	csExtAfterQuoted        // after the closing quote
	csSizeLF                // CR seen at the end of a chunk-size line
	csData                  // chunk-data
	csDataCR                // CR after chunk-data
	csDataLF                // LF after chunk-data
	csTrailerStart          // start of a trailer line, or the final CRLF
	csTrailerName           // in a trailer field name
	csTrailerValue          // in a trailer field value
	csTrailerLF             // CR seen at the end of a trailer line
	csEndLF                 // CR seen on the final empty line
	csDone
)

// NewChunkedBody frames one chunked body within lim's MaxChunkLine,
// MaxChunkExt and MaxTrailer.
func NewChunkedBody(lim Limits) ChunkedBody {
	l := lim.WithDefaults()
	return ChunkedBody{maxLine: l.MaxChunkLine, maxExt: l.MaxChunkExt, maxTrailer: l.MaxTrailer}
}

// Feed returns how many octets at the start of in belong to the body and
// whether it is complete (n then stops just past the final CRLF: the rest
// is the next message). After a refusal every call returns it again.
func (c *ChunkedBody) Feed(in []byte) (n int, done bool, err error) {
	return c.run(in, nil)
}

// Decode is Feed that also appends the chunk data (without sizes,
// extensions and trailers) to out.
func (c *ChunkedBody) Decode(in, out []byte) (n int, outp []byte, done bool, err error) {
	n, done, err = c.run(in, &out)
	return n, out, done, err
}

// Done reports whether the whole body has been seen.
func (c *ChunkedBody) Done() bool { return c.state == csDone }

func (c *ChunkedBody) run(in []byte, out *[]byte) (int, bool, error) {
	if c.err != nil {
		return 0, false, c.err
	}
	if c.maxLine == 0 {
		*c = NewChunkedBody(Limits{}) // zero value: default limits
	}
	i := 0
	for i < len(in) && c.state != csDone {
		if c.state == csData {
			k := int64(len(in) - i)
			if k > c.left {
				k = c.left
			}
			if out != nil {
				*out = append(*out, in[i:i+int(k)]...)
			}
			i += int(k)
			c.left -= k
			if c.left == 0 {
				c.state = csDataCR
			}
			continue
		}
		if err := c.step(in[i]); err != nil {
			c.err = err
			return i, false, err
		}
		i++
	}
	return i, c.state == csDone, nil
}

func (c *ChunkedBody) step(b byte) *Error {
	switch c.state {
	case csSize, csExtName, csExtValue, csExtToken, csExtQuoted, csExtEscape, csExtAfterQuoted:
		if b != '\r' {
			c.line++
			if c.line > c.maxLine {
				return errChunkLine
			}
			if c.state != csSize || b == ';' {
				c.ext++
				if c.ext > c.maxExt {
					return errChunkExtTotal
				}
			}
		}
	case csTrailerStart, csTrailerName, csTrailerValue, csTrailerLF, csEndLF:
		c.trailer++
		if c.trailer > c.maxTrailer {
			return errTrailerTooBig
		}
	}

	switch c.state {
	case csSize:
		if v := hexTab[b]; v >= 0 {
			c.digits++
			if c.digits > 16 {
				return errChunkTooBig
			}
			if c.size > (1<<63-1)>>4 {
				return errChunkTooBig
			}
			c.size = c.size<<4 | int64(v)
			return nil
		}
		if c.digits == 0 {
			return errChunkSize
		}
		return c.elementEnd(b, errChunkSize)
	case csExtName:
		switch {
		case tcharTab[b]:
			c.nameLen++
		case c.nameLen == 0:
			return errChunkExt
		case b == '=':
			c.state = csExtValue
		default:
			return c.elementEnd(b, errChunkExt)
		}
	case csExtValue:
		switch {
		case b == '"':
			c.state = csExtQuoted
		case tcharTab[b]:
			c.state = csExtToken
		default:
			return errChunkExt
		}
	case csExtToken:
		if !tcharTab[b] {
			return c.elementEnd(b, errChunkExt)
		}
	case csExtQuoted:
		switch {
		case b == '"':
			c.state = csExtAfterQuoted
		case b == '\\':
			c.state = csExtEscape
		case !vcharTab[b]:
			return errChunkExt
		}
	case csExtEscape:
		if !vcharTab[b] {
			return errChunkExt
		}
		c.state = csExtQuoted
	case csExtAfterQuoted:
		return c.elementEnd(b, errChunkExt)
	case csSizeLF:
		if b != '\n' {
			return errChunkSize
		}
		if c.size == 0 {
			c.state = csTrailerStart
		} else {
			c.state, c.left = csData, c.size
		}
		c.size, c.digits, c.line = 0, 0, 0
	case csDataCR:
		return c.expect(b, '\r', errChunkCRLF, csDataLF)
	case csDataLF:
		return c.expect(b, '\n', errChunkCRLF, csSize)
	case csTrailerStart:
		switch {
		case b == '\r':
			c.state = csEndLF
		case tcharTab[b]:
			c.state, c.nameLen = csTrailerName, 0
			c.trailerName(b)
		default:
			return errTrailer // obs-fold, whitespace, a bare LF, a control
		}
	case csTrailerName:
		switch {
		case tcharTab[b]:
			c.trailerName(b)
		case b == ':':
			if c.framingTrailer() {
				return errTrailerFraming
			}
			c.state = csTrailerValue
		default:
			return errTrailer // including whitespace before the colon
		}
	case csTrailerValue:
		switch {
		case b == '\r':
			c.state = csTrailerLF
		case !vcharTab[b]:
			return errTrailer
		}
	case csTrailerLF:
		return c.expect(b, '\n', errTrailer, csTrailerStart)
	case csEndLF:
		return c.expect(b, '\n', errTrailer, csDone)
	}
	return nil
}

// expect moves to next when b is want, else fails with err.
func (c *ChunkedBody) expect(b, want byte, err *Error, next uint8) *Error {
	if b != want {
		return err
	}
	c.state = next
	return nil
}

// elementEnd takes the octet after a chunk size or an extension: ';'
// starts the next extension, CR ends the line, anything else is err.
func (c *ChunkedBody) elementEnd(b byte, err *Error) *Error {
	switch b {
	case ';':
		c.state, c.nameLen = csExtName, 0
	case '\r':
		c.state = csSizeLF
	default:
		return err
	}
	return nil
}

func (c *ChunkedBody) trailerName(b byte) {
	if c.nameLen < len(c.name) {
		c.name[c.nameLen] = lowerASCII(b)
	}
	c.nameLen++
}

// framingTrailer reports a trailer field that frames, routes or manages
// the connection. RFC 9110 6.5.1 says recipients must not act on them;
// some backends merge trailers into the header fields all the same.
func (c *ChunkedBody) framingTrailer() bool {
	if c.nameLen > len(c.name) {
		return false
	}
	switch string(c.name[:c.nameLen]) {
	case "content-length", "transfer-encoding", "host", "connection", "keep-alive",
		"proxy-connection", "te", "trailer", "upgrade":
		return true
	}
	return false
}
