package httpio

import (
	"net/http"
)

// Problem is an RFC 9457 problem document: every /api/v1 error. Type is a
// URN naming the kind of problem (ProblemType constants); Parameter and
// Line say which request parameter, body field or import line is at fault.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Line      int    `json:"line,omitempty"`
}

// Problem types.
const (
	ProblemPrefix        = "urn:switchyard:problem:"
	ProblemInvalid       = ProblemPrefix + "invalid-request"     // 400: a parameter or field is wrong
	ProblemUnauthorized  = ProblemPrefix + "unauthorized"        // 401
	ProblemForbidden     = ProblemPrefix + "read-only-token"     // 403: the viewer token changes nothing
	ProblemNotAllowed    = ProblemPrefix + "not-allowed"         // 403: admin.config_write or [admin.allow] forbids it
	ProblemNotFound      = ProblemPrefix + "not-found"           // 404
	ProblemMethod        = ProblemPrefix + "method-not-allowed"  // 405
	ProblemTooLarge      = ProblemPrefix + "body-too-large"      // 413
	ProblemMediaType     = ProblemPrefix + "unsupported-media"   // 415
	ProblemReloadFailed  = ProblemPrefix + "reload-failed"       // 422
	ProblemLocked        = ProblemPrefix + "too-many-bad-tokens" // 429
	ProblemInternal      = ProblemPrefix + "internal"            // 500
	ProblemReadOnlyStore = ProblemPrefix + "read-only-store"     // 501: the store takes no writes
	ProblemNotListable   = ProblemPrefix + "not-listable"        // 501: the store cannot list
	ProblemUnavailable   = ProblemPrefix + "unavailable"         // 503
)

var problemTitles = map[string]string{
	ProblemInvalid:       "Invalid request",
	ProblemUnauthorized:  "Missing or invalid token",
	ProblemForbidden:     "The viewer token cannot change anything",
	ProblemNotAllowed:    "The configuration does not let the API do this",
	ProblemNotFound:      "Not found",
	ProblemMethod:        "Method not allowed",
	ProblemTooLarge:      "Body too large",
	ProblemMediaType:     "Unsupported media type",
	ProblemReloadFailed:  "Reload failed; the running configuration is kept",
	ProblemLocked:        "Too many bad tokens from this address",
	ProblemInternal:      "Internal error",
	ProblemReadOnlyStore: "The mapping store is read-only",
	ProblemNotListable:   "The mapping store cannot list its mappings",
	ProblemUnavailable:   "Unavailable",
}

// writeProblem answers with an application/problem+json document.
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, typ, detail string, with ...func(*Problem)) {
	p := Problem{Type: typ, Title: problemTitles[typ], Status: status, Detail: detail}
	if r != nil {
		p.Instance = r.URL.Path
	}
	for _, f := range with {
		f(&p)
	}
	writeJSONAs(w, "application/problem+json", status, p)
}

func WithParam(name string) func(*Problem) { return func(p *Problem) { p.Parameter = name } }
func WithLine(n int) func(*Problem)        { return func(p *Problem) { p.Line = n } }
