package codec

import "github.com/switchyard-mail/switchyard/limits"

// Limits bound what a peer can make the proxy hold or scan. A zero field
// takes its default; so does a negative one.
type Limits struct {
	// MaxHead bounds a whole head, start line to the final CRLF (431).
	MaxHead int
	// MaxFields bounds the number of header field lines (431).
	MaxFields int
	// MaxFieldLine bounds one header field line, CRLF excluded (431).
	MaxFieldLine int
	// MaxTarget bounds the request-target (414). The request line may be
	// longer by the method, the version and two spaces.
	MaxTarget int
	// MaxChunkLine bounds one chunk-size line with its extensions, CRLF
	// excluded.
	MaxChunkLine int
	// MaxChunkExt bounds the chunk extension octets of a whole body: no
	// client needs them, and without a total a body of one-octet chunks
	// with long extensions costs far more to scan than it carries.
	MaxChunkExt int
	// MaxTrailer bounds the trailer section of a chunked body.
	MaxTrailer int
}

// maxMethod bounds the method token (longer ones are refused with 501:
// no registered method comes close).
const maxMethod = 32

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// WithDefaults returns l with every zero limit set to its default (named
// in limits/, with their reasons in docs/LIMITS.md).
func (l Limits) WithDefaults() Limits {
	return Limits{
		MaxHead:      orDefault(l.MaxHead, limits.MaxHeadSize),
		MaxFields:    orDefault(l.MaxFields, limits.MaxHeadFields),
		MaxFieldLine: orDefault(l.MaxFieldLine, limits.MaxFieldLine),
		MaxTarget:    orDefault(l.MaxTarget, limits.MaxTarget),
		MaxChunkLine: orDefault(l.MaxChunkLine, limits.MaxChunkLine),
		MaxChunkExt:  orDefault(l.MaxChunkExt, limits.MaxChunkExt),
		MaxTrailer:   orDefault(l.MaxTrailer, limits.MaxTrailer),
	}
}
