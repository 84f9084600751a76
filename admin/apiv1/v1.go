package apiv1

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/admin/httpio"
	"github.com/switchyard-mail/switchyard/admin/openapi"
)

// /api/v1: a resource-oriented JSON API over the same Backend, described
// by openapi.json (served at /api/v1/openapi.json). Errors are RFC 9457
// problem documents. The admin token may do everything; the viewer token
// may only read (GET and HEAD): anything else is 403.

const Prefix = "/api/v1"

// v1Ctx is what a /api/v1 handler gets besides the request.
type v1Ctx struct {
	role   string
	params map[string]string // path parameters, unescaped
	q      httpio.Query
}

// v1API serves /api/v1 for a Server: the backend, the activity log and
// history, and the server's clock.
type API struct {
	b         backend.Backend
	console   backend.Console // b, when it implements /api/v1
	log       *slog.Logger
	events    *events.EventLog
	history   *events.History
	spec      []byte        // the OpenAPI document
	streams   chan struct{} // one token per open event stream
	done      <-chan struct{}
	now       func() time.Time
	maxImport int64 // bytes of an import body
	routes    *v1Router
}

// v1Options are what a v1API takes from its Server.
type Options struct {
	Logger         *slog.Logger
	Events         *events.EventLog
	History        *events.History
	MaxStreams     int             // concurrent event streams
	MaxImportBytes int64           // bytes of an import body
	Done           <-chan struct{} // closed when the server shuts down
	Now            func() time.Time
}

// newV1API returns the /api/v1 handler over b (a 404 for every path when
// b is no backend.Console).
func New(b backend.Backend, o Options) *API {
	s := &API{b: b, log: o.Logger, events: o.Events, history: o.History, spec: openapi.Document(),
		streams: make(chan struct{}, o.MaxStreams), done: o.Done, now: o.Now, maxImport: o.MaxImportBytes}
	s.console, _ = b.(backend.Console)
	s.routes = s.v1Routes()
	return s
}

type v1Handler func(w http.ResponseWriter, r *http.Request, c *v1Ctx)

type v1Route struct {
	method  string
	pattern string   // as in openapi.json: /api/v1/mappings/{identifier}
	segs    []string // pattern split on '/'
	params  []string // query parameters it takes
	h       v1Handler
}

type v1Router struct{ routes []*v1Route }

func (rt *v1Router) add(method, pattern string, h v1Handler, params ...string) {
	rt.routes = append(rt.routes, &v1Route{method: method, pattern: pattern, segs: strings.Split(pattern, "/"), params: params, h: h})
}

// match finds the routes of path; ok is false when no pattern fits it.
// A path parameter is one segment, percent-decoded (so "%2F" may carry a
// slash).
func (rt *v1Router) match(escaped string) (routes []*v1Route, params map[string]string, err error) {
	segs := strings.Split(escaped, "/")
	for _, r := range rt.routes {
		if len(r.segs) != len(segs) {
			continue
		}
		p := map[string]string{}
		ok := true
		for i, s := range r.segs {
			if strings.HasPrefix(s, "{") {
				v, uerr := url.PathUnescape(segs[i])
				if uerr != nil {
					return nil, nil, &httpio.ParamError{Param: strings.Trim(s, "{}"), Msg: "bad percent escape"}
				}
				if v == "" {
					ok = false
					break
				}
				p[strings.Trim(s, "{}")] = v
			} else if s != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			routes = append(routes, r)
			params = p
		}
	}
	// A literal segment beats a parameter: /mappings/counts is not the
	// mapping of "counts".
	best := 0
	for _, r := range routes {
		best = max(best, r.literals())
	}
	kept := routes[:0]
	for _, r := range routes {
		if r.literals() == best {
			kept = append(kept, r)
		}
	}
	if len(kept) > 0 {
		_, params, _ = (&v1Router{routes: kept[:1]}).matchOne(segs)
	}
	return kept, params, nil
}

func (r *v1Route) literals() int {
	n := 0
	for _, s := range r.segs {
		if !strings.HasPrefix(s, "{") {
			n++
		}
	}
	return n
}

// matchOne extracts the parameters of the router's first route.
func (rt *v1Router) matchOne(segs []string) (*v1Route, map[string]string, bool) {
	r := rt.routes[0]
	p := map[string]string{}
	for i, s := range r.segs {
		if strings.HasPrefix(s, "{") {
			v, _ := url.PathUnescape(segs[i])
			p[strings.Trim(s, "{}")] = v
		}
	}
	return r, p, true
}

// Patterns lists every "METHOD pattern" the API serves (tests compare it
// with openapi.json).
func (s *API) Patterns() []string {
	var out []string
	for _, r := range s.routes.routes {
		out = append(out, r.method+" "+r.pattern)
	}
	sort.Strings(out)
	return out
}

func (s *API) Serve(w http.ResponseWriter, r *http.Request, role string) {
	if s.console == nil {
		httpio.WriteProblem(w, r, http.StatusNotFound, httpio.ProblemNotFound, "this backend does not serve /api/v1")
		return
	}
	path := r.URL.EscapedPath()
	if len(path) > len(Prefix)+1 {
		path = strings.TrimRight(path, "/")
	}
	routes, params, err := s.routes.match(path)
	if err != nil {
		s.v1ParamError(w, r, err)
		return
	}
	if len(routes) == 0 {
		httpio.WriteProblem(w, r, http.StatusNotFound, httpio.ProblemNotFound, "no such resource: "+r.URL.Path)
		return
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	var route *v1Route
	var allow []string
	for _, rte := range routes {
		allow = append(allow, rte.method)
		if rte.method == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
		if rte.method == method {
			route = rte
		}
	}
	if route == nil {
		sort.Strings(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		httpio.WriteProblem(w, r, http.StatusMethodNotAllowed, httpio.ProblemMethod,
			fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	if role != backend.RoleAdmin && method != http.MethodGet {
		httpio.WriteProblem(w, r, http.StatusForbidden, httpio.ProblemForbidden, "the viewer token can read but not change anything")
		return
	}
	q, err := httpio.ParseQuery(r.URL.RawQuery)
	if err == nil {
		err = q.Unknown(route.params...)
	}
	if err != nil {
		s.v1ParamError(w, r, err)
		return
	}
	route.h(w, r, &v1Ctx{role: role, params: params, q: q})
}

// v1ParamError answers 400 naming the parameter.
func (s *API) v1ParamError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *httpio.ParamError
	if errors.As(err, &pe) {
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, pe.Error(), httpio.WithParam(pe.Param))
		return
	}
	httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, err.Error())
}

// v1Error maps a Backend error to a problem. param names the parameter
// an ErrInvalid or ErrNotFound is about.
func (s *API) v1Error(w http.ResponseWriter, r *http.Request, op, param string, err error) {
	detail := fmt.Sprintf("%s: %v", op, err)
	switch {
	case errors.Is(err, backend.ErrUnknownDestination):
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, detail, httpio.WithParam("destination"))
	case errors.Is(err, backend.ErrInvalid):
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, detail, httpio.WithParam(param))
	case errors.Is(err, backend.ErrNotFound):
		httpio.WriteProblem(w, r, http.StatusNotFound, httpio.ProblemNotFound, detail, httpio.WithParam(param))
	case errors.Is(err, backend.ErrReadOnly):
		httpio.WriteProblem(w, r, http.StatusNotImplemented, httpio.ProblemReadOnlyStore, detail)
	case errors.Is(err, backend.ErrNotListable):
		httpio.WriteProblem(w, r, http.StatusNotImplemented, httpio.ProblemNotListable, detail)
	case errors.Is(err, backend.ErrUnavailable):
		httpio.WriteProblem(w, r, http.StatusServiceUnavailable, httpio.ProblemUnavailable, detail)
	case errors.Is(err, backend.ErrNotAllowed):
		httpio.WriteProblem(w, r, http.StatusForbidden, httpio.ProblemNotAllowed, detail, httpio.WithParam(param))
	default:
		s.log.Error("admin backend call failed", "op", op, "path", r.URL.Path, "err", err)
		httpio.WriteProblem(w, r, http.StatusInternalServerError, httpio.ProblemInternal, detail)
	}
}

// maxJSONBody bounds a JSON request body (an import has its own bound).
const maxJSONBody = 64 << 10

// readJSON decodes the body into v strictly (an unknown field is an
// error naming it); it answers the problem itself and returns false on
// failure.
func (s *API) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && httpio.MediaType(ct) != "application/json" {
		httpio.WriteProblem(w, r, http.StatusUnsupportedMediaType, httpio.ProblemMediaType, fmt.Sprintf("Content-Type %q: send application/json", ct))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			httpio.WriteProblem(w, r, http.StatusRequestEntityTooLarge, httpio.ProblemTooLarge, fmt.Sprintf("body larger than %d bytes", maxJSONBody))
		case errors.As(err, &ute):
			httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, fmt.Sprintf("field %q: want %s", ute.Field, ute.Type), httpio.WithParam(ute.Field))
		case errors.Is(err, io.EOF):
			httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, "the body is empty: send a JSON object")
		default:
			msg := err.Error()
			p := ""
			if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
				p = strings.Trim(f, `"`)
				msg = "unknown field " + f
			}
			httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, "body: "+msg, httpio.WithParam(p))
		}
		return false
	}
	if dec.More() {
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, "body: more than one JSON value")
		return false
	}
	return true
}

// pathToken validates a path parameter as an identifier-like token.
func (c *v1Ctx) pathToken(name string, max int) (string, error) {
	v := c.params[name]
	if msg := httpio.CheckToken(name, v, max); msg != "" {
		return "", &httpio.ParamError{Param: name, Msg: msg}
	}
	return v, nil
}
