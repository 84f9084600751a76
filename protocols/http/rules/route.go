// Package rules holds the routing rules of [[http.route]]: path globs,
// compiled routes, where a request names its account, the Decision they
// come to, and the edge verification of bearer tokens. The HTTP/1.1 relay
// and the HTTP/2 server route with the same code, over a small view of a
// request; nothing here does I/O or writes a response. See README.md.
package rules

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/switchyard-mail/switchyard/identity"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/http/codec"
)

// Where an Extract finds the identifier (config http.route.extract.from).
const (
	FromAuthorization = "authorization"
	FromQuery         = "query"
	FromHeader        = "header"
	FromBody          = "body"
)

// Defaults of the routing rules, shared by the relay and HTTP/2.
const (
	// DefaultBodyExtractCap bounds the body read ahead for a body route
	// or a form's access_token (http.body_extract_cap).
	DefaultBodyExtractCap = limits.BodyExtractCap
	// DefaultIdentifierClaim is the JWT claim tried first for Bearer
	// tokens (oauth.jwt_username_claim).
	DefaultIdentifierClaim = "email"
)

// FallbackDefault as a Route's Fallback sends requests without an
// identifier to RelayConfig.DefaultDestination.
const FallbackDefault = "default"

// Route is one compiled [[http.route]]. Build routes with CompileRoutes
// once per configuration: a Relay (one per client connection) shares them.
type Route struct {
	// Match is the path glob as configured (see Glob for the syntax).
	Match string
	// Host, when set, restricts the route to requests for that host
	// (compared case-insensitively, without the port).
	Host string
	// Methods, when set, restricts the route to these methods (exact,
	// case-sensitive as methods are).
	Methods []string
	// Destination pins matching requests to a destination...
	Destination string
	// ...or Extract names the account whose destination the router finds.
	Extract *Extract
	// Fallback is where a request goes when Extract finds no identifier,
	// or when the router knows no destination for it: FallbackDefault,
	// a destination ID, or "" for none (the request is refused).
	Fallback string

	glob *Glob
}

// Extract says where a route finds the account identifier.
type Extract struct {
	// From is FromAuthorization, FromQuery, FromHeader or FromBody.
	From string
	// Param is the query parameter (FromQuery), Header the field name
	// (FromHeader).
	Param, Header string
	// Regex, when set, is applied to the extracted value (FromBody: to
	// the body) and its first capture group is the identifier (the whole
	// match if it has no group). Required for FromBody.
	Regex *regexp.Regexp
}

// RouteSpec is one [[http.route]] as plain configuration strings, for
// CompileRoutes.
type RouteSpec struct {
	Match       string
	Host        string
	Methods     []string
	Destination string
	Extract     *ExtractSpec
	Fallback    string
}

// ExtractSpec is the extract table of a RouteSpec.
type ExtractSpec struct {
	From   string // authorization, query, header or body
	Regex  string
	Param  string
	Header string
}

// CompileRoutes compiles [[http.route]] entries in order (first match
// wins). The configuration check has normally refused anything this
// refuses; the error names the route by its index.
func CompileRoutes(specs []RouteSpec) ([]Route, error) {
	routes := make([]Route, 0, len(specs))
	for i, s := range specs {
		r, err := CompileRoute(s)
		if err != nil {
			return nil, fmt.Errorf("http.route[%d]: %w", i, err)
		}
		routes = append(routes, r)
	}
	return routes, nil
}

// CompileRoute compiles one route.
func CompileRoute(s RouteSpec) (Route, error) {
	g, err := CompileGlob(s.Match)
	if err != nil {
		return Route{}, fmt.Errorf("match %q: %w", s.Match, err)
	}
	r := Route{Match: s.Match, Host: stripPort(s.Host), Destination: s.Destination, Fallback: s.Fallback, glob: g}
	if len(s.Methods) > 0 {
		r.Methods = append([]string(nil), s.Methods...)
	}
	switch {
	case s.Destination == "" && s.Extract == nil:
		return Route{}, errors.New("needs destination or extract")
	case s.Destination != "" && s.Extract != nil:
		return Route{}, errors.New("has both destination and extract")
	}
	if e := s.Extract; e != nil {
		x := &Extract{From: e.From, Param: e.Param, Header: e.Header}
		switch e.From {
		case FromAuthorization:
		case FromQuery:
			if e.Param == "" {
				return Route{}, errors.New("extract from query needs param")
			}
		case FromHeader:
			if e.Header == "" || !codec.IsToken(e.Header) {
				return Route{}, errors.New("extract from header needs a header name")
			}
		case FromBody:
			if e.Regex == "" {
				return Route{}, errors.New("extract from body needs regex")
			}
		default:
			return Route{}, fmt.Errorf("extract from %q: not authorization, query, header or body", e.From)
		}
		if e.Regex != "" {
			re, err := regexp.Compile(e.Regex)
			if err != nil {
				return Route{}, fmt.Errorf("extract regex %q: %w", e.Regex, err)
			}
			x.Regex = re
		}
		r.Extract = x
	}
	return r, nil
}

// matches reports whether the route takes a request for path (already
// normalized), host (without port) and method.
func (r *Route) matches(path, host, method string) bool {
	if r.Host != "" && !strings.EqualFold(r.Host, host) {
		return false
	}
	if len(r.Methods) > 0 {
		ok := false
		for _, m := range r.Methods {
			if m == method {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return r.glob != nil && r.glob.Match(path)
}

// WantsBody reports whether the route finds its identifier in the
// request body, which must then be read ahead (at most BodyExtractCap
// octets) before the request can be routed. False for a nil route.
func (r *Route) WantsBody() bool {
	return r != nil && r.Extract != nil && r.Extract.From == FromBody
}

// MatchPath returns the first route that takes a request for the raw
// path (origin-form, or "*" for OPTIONS *), the authority and the
// method, or nil. The path is normalized first (normalizePath).
func MatchPath(routes []Route, rawPath, authority, method string) *Route {
	path := normalizePath(rawPath)
	host := stripPort(authority)
	for i := range routes {
		if rt := &routes[i]; rt.matches(path, host, method) {
			return rt
		}
	}
	return nil
}

// PrepareRoutes returns routes ready to match: routes is returned as it
// is when every route came from CompileRoutes; otherwise a copy in which
// the globs of routes built by hand are compiled (an invalid glob never
// matches).
func PrepareRoutes(routes []Route) []Route {
	for i := range routes {
		if routes[i].glob == nil {
			own := make([]Route, len(routes))
			copy(own, routes)
			for j := range own {
				if own[j].glob == nil {
					own[j].glob, _ = CompileGlob(own[j].Match) // nil on error: never matches
				}
			}
			return own
		}
	}
	return routes
}

// stripPort returns the host of an authority without its port (and
// without the brackets of an IPv6 literal).
func stripPort(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}

// Fields is what Identifier reads header fields from: a codec
// RequestHead, or the http.Header of a net/http request.
type Fields interface{ Get(name string) string }

// Identifier returns the identifier an Extract finds in a request's
// Authorization field, raw query or header fields (not FromBody), or "".
func (e *Extract) Identifier(auth, query string, fields Fields, claim string) string {
	var v string
	switch e.From {
	case FromAuthorization:
		v = authIdentity(auth, claim)
	case FromQuery:
		v = queryParam(query, e.Param)
	case FromHeader:
		v = fields.Get(e.Header)
	}
	return e.refine(v)
}

// refine applies the regex to a value and checks the result.
func (e *Extract) refine(v string) string {
	if v == "" {
		return ""
	}
	if e.Regex != nil {
		m := e.Regex.FindStringSubmatch(v)
		switch {
		case m == nil:
			return ""
		case len(m) > 1:
			v = m[1]
		default:
			v = m[0]
		}
	}
	return validIdentifier(v)
}

// BodyIdentifier applies the regex to a buffered body.
func (e *Extract) BodyIdentifier(body []byte) string {
	if e.Regex == nil {
		return ""
	}
	m := e.Regex.FindSubmatch(body)
	switch {
	case m == nil:
		return ""
	case len(m) > 1:
		return validIdentifier(string(m[1]))
	}
	return validIdentifier(string(m[0]))
}

// validIdentifier returns v if the router, the logs and the backends can
// carry it (non-empty UTF-8 without control characters, at most
// identity.MaxIdentifierLen octets), else "".
func validIdentifier(v string) string {
	if v == "" || len(v) > identity.MaxIdentifierLen || !utf8.ValidString(v) {
		return ""
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return ""
		}
	}
	return v
}

// authIdentity reads the account from an Authorization field: the user
// of Basic credentials (RFC 7617: before the first colon), or the account
// named inside a Bearer token (a JWT claim or a Stalwart sw1 footer; see
// package token). Nothing is verified: the backend does that.
func authIdentity(auth, claim string) string {
	scheme, cred, ok := strings.Cut(auth, " ")
	if !ok {
		return ""
	}
	cred = strings.TrimLeft(cred, " ")
	switch {
	case codec.EqualFold(scheme, "basic"):
		if len(cred) > maxBasicCredentials {
			return ""
		}
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			raw, err = base64.RawStdEncoding.DecodeString(cred)
			if err != nil {
				return ""
			}
		}
		user, _, ok := strings.Cut(string(raw), ":")
		if !ok {
			return ""
		}
		return user
	case codec.EqualFold(scheme, "bearer"):
		id, _ := identity.FromToken(cred, claim)
		return id
	}
	return ""
}

// queryParam returns the first value of the named parameter in a query
// (application/x-www-form-urlencoded: "+" is a space, percent-escapes
// decoded), "" when absent or malformed.
func queryParam(query, name string) string {
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k == "" {
			continue
		}
		if k != name {
			dk, err := url.QueryUnescape(k)
			if err != nil || dk != name {
				continue
			}
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return ""
		}
		return dv
	}
	return ""
}

// maxBasicCredentials bounds the base64 Basic credentials decoded.
const maxBasicCredentials = limits.MaxBasicCredentials
