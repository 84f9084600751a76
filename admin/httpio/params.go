package httpio

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchyard-mail/switchyard/limits"
)

// Limits on what the API accepts.
const (
	// MaxIdentifierLen is the longest identifier accepted (the router's
	// own limit on a normalized identifier).
	MaxIdentifierLen = limits.MaxIdentifierLen
	// MaxDestinationLen is the longest destination id accepted.
	MaxDestinationLen = limits.AdminMaxDestinationLen
	// MaxQueryLen is the longest raw query string accepted.
	MaxQueryLen = limits.AdminMaxQueryLen
	// MaxDelaySeconds is the longest login delay (one day).
	MaxDelaySeconds = int64(limits.AdminMaxDelay / time.Second)
)

// paramError is a 400 that names the parameter.
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string { return fmt.Sprintf("parameter %q: %s", e.Param, e.Msg) }

// query is a parsed query string: every parameter once, percent-decoded.
type Query map[string]string

// parseQuery parses a raw query string the way the reference proxy reads
// it: pairs split on '&', name and value split on the first '=', each
// percent-decoded. Unlike net/url, '+' stays a plus sign: identifiers such
// as "user+tag@example.com" are common and scripts written for the
// reference proxy send them unencoded. Stricter than the reference: a bad
// escape, invalid UTF-8, a control character or a parameter given twice is
// an error (the reference silently takes the first one).
func ParseQuery(raw string) (Query, error) {
	if len(raw) > MaxQueryLen {
		return nil, &ParamError{Param: "query", Msg: fmt.Sprintf("longer than %d bytes", MaxQueryLen)}
	}
	q := Query{}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		name, err := unescape(k)
		if err != nil {
			return nil, &ParamError{Param: k, Msg: "bad parameter name: " + err.Error()}
		}
		if name == "" {
			return nil, &ParamError{Param: "", Msg: "empty parameter name"}
		}
		val, err := unescape(v)
		if err != nil {
			return nil, &ParamError{Param: name, Msg: err.Error()}
		}
		if _, dup := q[name]; dup {
			return nil, &ParamError{Param: name, Msg: "given more than once"}
		}
		q[name] = val
	}
	return q, nil
}

// unescape decodes %XX escapes; it refuses a truncated or non-hex escape,
// invalid UTF-8 and control characters.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, CheckText(s)
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", fmt.Errorf("bad percent escape at byte %d", i)
		}
		b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
		i += 2
	}
	out := string(b)
	return out, CheckText(out)
}

func CheckText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("contains control character %U", r)
		}
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// checkToken validates an identifier or destination: non-empty, at most
// max bytes, no whitespace (the export format separates fields with it).
// Control characters and invalid UTF-8 were refused by the parser; the
// import parser calls checkText itself.
func CheckToken(what, s string, max int) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > max:
		return fmt.Sprintf("is longer than %d bytes", max)
	}
	if err := CheckText(s); err != nil {
		return err.Error()
	}
	for _, r := range s {
		if r == ' ' || r == '\u00a0' || r == '\u2028' || r == '\u2029' || r == '\u3000' || (r >= '\u2000' && r <= '\u200a') {
			return what + " contains whitespace"
		}
	}
	return ""
}

// optional returns a parameter, validated as an identifier-like token
// when present. A parameter that is present but empty is an error: it
// is almost always a script bug (an unset shell variable).
func (q Query) Optional(name string, max int) (string, bool, error) {
	v, ok := q[name]
	if !ok {
		return "", false, nil
	}
	if msg := CheckToken(name, v, max); msg != "" {
		return "", false, &ParamError{Param: name, Msg: msg}
	}
	return v, true, nil
}

func (q Query) required(name string, max int) (string, error) {
	v, ok, err := q.Optional(name, max)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &ParamError{Param: name, Msg: "is required"}
	}
	return v, nil
}

func (q Query) Identifier(required bool) (string, bool, error) {
	if required {
		v, err := q.required("identifier", MaxIdentifierLen)
		return v, err == nil, err
	}
	return q.Optional("identifier", MaxIdentifierLen)
}

func (q Query) Destination(required bool) (string, bool, error) {
	if required {
		v, err := q.required("destination", MaxDestinationLen)
		return v, err == nil, err
	}
	return q.Optional("destination", MaxDestinationLen)
}

// seconds parses a non-negative whole number of seconds up to max.
func (q Query) Seconds(name string, max int64) (int64, error) {
	v, ok := q[name]
	if !ok {
		return 0, &ParamError{Param: name, Msg: "is required"}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || v == "" || v[0] == '+' {
		return 0, &ParamError{Param: name, Msg: fmt.Sprintf("%q is not a whole number of seconds", v)}
	}
	if n > max {
		return 0, &ParamError{Param: name, Msg: fmt.Sprintf("%d is more than %d", n, max)}
	}
	return n, nil
}

// oneOf returns an optional parameter that must be one of allowed.
func (q Query) OneOf(name string, allowed []string) (string, error) {
	v, ok := q[name]
	if !ok {
		return "", nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", &ParamError{Param: name, Msg: fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", "))}
}

// unknown returns an error for the first parameter not in known, so that
// a misspelt filter ("identifer=") does not silently select everything.
func (q Query) Unknown(known ...string) error {
	for name := range q {
		found := false
		for _, k := range known {
			if name == k {
				found = true
				break
			}
		}
		if !found {
			if len(known) == 0 {
				return &ParamError{Param: name, Msg: "unknown parameter (this endpoint takes none)"}
			}
			return &ParamError{Param: name, Msg: "unknown parameter (expected " + strings.Join(known, ", ") + ")"}
		}
	}
	return nil
}

// intParam reads an optional whole number in [lo, hi] (def when absent).
func (q Query) IntParam(name string, def, lo, hi int) (int, error) {
	v, ok := q[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || v == "" || v[0] == '+' {
		return 0, &ParamError{Param: name, Msg: fmt.Sprintf("%q is not a whole number", v)}
	}
	if n < lo || n > hi {
		return 0, &ParamError{Param: name, Msg: fmt.Sprintf("%d is not between %d and %d", n, lo, hi)}
	}
	return n, nil
}

// boolParam reads an optional true/false (def when absent).
func (q Query) BoolParam(name string, def bool) (bool, error) {
	v, ok := q[name]
	if !ok {
		return def, nil
	}
	switch v {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, &ParamError{Param: name, Msg: fmt.Sprintf("%q is not true or false", v)}
}

func (q Query) Seq(name string) (uint64, error) {
	v, ok := q[name]
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || v[0] == '+' {
		return 0, &ParamError{Param: name, Msg: fmt.Sprintf("%q is not an event sequence number", v)}
	}
	return n, nil
}

func MediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}
