package rules

import (
	"net/http"
	"strings"
)

// Decision is where a request goes, by the rules of [[http.route]]:
// exactly one of Destination (a pinned route or a fallback), Identifier
// (the account whose destination the router finds) or Status (the proxy
// answers itself) is set.
type Decision struct {
	// Destination is the destination ID the request goes to.
	Destination string
	// Identifier is the account to resolve; when the router knows no
	// destination for it, Route.Unrouted says what happens.
	Identifier string
	// Status is the status to answer with, Reason a short explanation
	// for the response body, and Challenge the WWW-Authenticate value of
	// a 401 (empty otherwise).
	Status    int
	Reason    string
	Challenge string
	// Route is the route that matched, nil when none did.
	Route *Route
}

// BasicChallenge is the WWW-Authenticate value of a 401 for a route
// that extracts from the credentials and found none.
const BasicChallenge = `Basic realm="switchyard"`

// Decide is what a route says about a request given the identifier found
// in it ("" for none; a nil route is 404). Body routes are decided once
// their body is read.
func (r *Route) Decide(def, id string) Decision {
	switch {
	case r == nil, r.Destination == "" && r.Extract == nil:
		return Decision{Status: 404, Reason: "no route for this path", Route: r}
	case r.Destination != "":
		return Decision{Destination: r.Destination, Route: r}
	case id == "":
		return r.Unidentified(def)
	}
	return Decision{Identifier: id, Route: r}
}

// Unidentified is where a request without a usable identifier goes: where
// the route says, or refused: 401 with a Basic challenge when the
// identifier was to come from the credentials, 400 otherwise.
// FallbackDefault goes to def (502 when there is none).
func (r *Route) Unidentified(def string) Decision {
	switch r.Fallback {
	case "":
		if r.Extract != nil && r.Extract.From == FromAuthorization {
			return Decision{Status: 401, Reason: "credentials required", Challenge: BasicChallenge, Route: r}
		}
		return Decision{Status: 400, Reason: "no account named in the request", Route: r}
	case FallbackDefault:
		if def == "" {
			return Decision{Status: 502, Reason: "no default destination", Route: r}
		}
		return Decision{Destination: def, Route: r}
	}
	return Decision{Destination: r.Fallback, Route: r}
}

// Unrouted is where a request routed by identifier goes when the router
// knows no destination for the account (router.ErrNoRoute): the route's
// fallback if it has one, else 502. def is the default destination.
func (r *Route) Unrouted(def string) Decision {
	if r.Fallback != "" {
		return r.Unidentified(def)
	}
	return Decision{Status: 502, Reason: "no destination for this account", Route: r}
}

// Match returns the first of routes that takes a net/http request (by
// normalized path, host and method), or nil. Routes come from
// CompileRoutes or PrepareRoutes.
func Match(routes []Route, r *http.Request) *Route {
	return MatchPath(routes, requestPath(r), r.Host, r.Method)
}

// Decide applies the routing rules of the relay to a net/http request
// (HTTP/2 streams): the first matching route (none: 404), its pinned
// destination, or the identifier it extracts (Authorization Basic or
// Bearer, query, header, body), or its fallback. def is the default
// destination, claim the JWT claim tried first. CONNECT is 501, and more
// than one Authorization field 400, as in the relay.
//
// body matters only when the matched route extracts from the body
// (Route.WantsBody; find it first with Match): it is the whole body when
// the body fits in BodyExtractCap octets (an empty body is a non-nil
// empty slice), or nil when it was not read ahead (too long), and then
// the fallback decides.
func Decide(routes []Route, def, claim string, r *http.Request, body []byte) Decision {
	if r.Method == http.MethodConnect {
		return Decision{Status: 501, Reason: "CONNECT is not supported"}
	}
	if claim == "" {
		claim = DefaultIdentifierClaim
	}
	auth := r.Header.Values("Authorization")
	if len(auth) > 1 {
		return Decision{Status: 400, Reason: "more than one Authorization field"}
	}
	rt := Match(routes, r)
	if rt.WantsBody() {
		if body == nil {
			return rt.Unidentified(def)
		}
		return rt.Decide(def, rt.Extract.BodyIdentifier(body))
	}
	id := ""
	if rt != nil && rt.Extract != nil {
		a := ""
		if len(auth) == 1 {
			a = auth[0]
		}
		id = rt.Extract.Identifier(a, r.URL.RawQuery, r.Header, claim)
	}
	return rt.Decide(def, id)
}

// requestPath is the raw path of a net/http request: its request-target
// up to the query as received (":path" in HTTP/2), "*" for OPTIONS *.
func requestPath(r *http.Request) string {
	u := r.RequestURI
	if u == "*" || strings.HasPrefix(u, "/") {
		p, _, _ := strings.Cut(u, "?")
		return p
	}
	if r.URL == nil {
		return ""
	}
	return r.URL.EscapedPath()
}
