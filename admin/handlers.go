package admin

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard-mail/switchyard/admin/apiv1"
	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/httpio"
	"github.com/switchyard-mail/switchyard/admin/ui"
	"github.com/switchyard-mail/switchyard/limits"
)

// handlerFunc serves one method of one path with the parsed query.
type handlerFunc func(w http.ResponseWriter, r *http.Request, q httpio.Query)

type route struct {
	methods map[string]handlerFunc
	public  bool // no token needed
	allow   string
}

// takes wraps a handler with the one check every endpoint needs: no query
// parameter other than the ones it names (each is reported by name).
func takes(h handlerFunc, params ...string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, q httpio.Query) {
		if err := q.Unknown(params...); err != nil {
			writeParamError(w, err)
			return
		}
		h(w, r, q)
	}
}

func (s *Server) routes() http.Handler {
	rt := map[string]*route{
		"/healthz":            {methods: map[string]handlerFunc{"GET": s.healthz}, public: true},
		"/readyz":             {methods: map[string]handlerFunc{"GET": s.readyz}, public: true},
		"/stats":              {methods: map[string]handlerFunc{"GET": takes(s.stats)}},
		"/destinations":       {methods: map[string]handlerFunc{"GET": takes(s.destinations)}},
		"/destinations/reset": {methods: map[string]handlerFunc{"POST": takes(s.destinationReset, "destination")}},
		"/mappings":           {methods: map[string]handlerFunc{"GET": takes(s.mappingGet, "identifier"), "PUT": takes(s.mappingPut, "identifier", "destination"), "DELETE": takes(s.mappingDelete, "identifier")}},
		"/mappings/reload":    {methods: map[string]handlerFunc{"POST": takes(s.mappingsReload)}},
		"/mappings/export":    {methods: map[string]handlerFunc{"GET": takes(s.mappingsExport)}},
		"/mappings/import":    {methods: map[string]handlerFunc{"POST": takes(s.mappingsImport)}},
		"/cache/invalidate":   {methods: map[string]handlerFunc{"POST": takes(s.cacheInvalidate, "identifier")}},
		"/connections":        {methods: map[string]handlerFunc{"GET": takes(s.connections, "identifier", "destination", "protocol", "state", "id")}},
		"/connections/kick":   {methods: map[string]handlerFunc{"POST": takes(s.kick, "identifier", "destination", "protocol", "state", "id")}},
		"/connections/delay":  {methods: map[string]handlerFunc{"POST": takes(s.delay, "identifier", "seconds")}},
		"/config/reload":      {methods: map[string]handlerFunc{"POST": takes(s.configReload)}},
		"/drain":              {methods: map[string]handlerFunc{"POST": takes(s.drain), "DELETE": takes(s.undrain)}},
		"/log/level":          {methods: map[string]handlerFunc{"PUT": takes(s.logLevel, "level")}},
		"/metrics":            {methods: map[string]handlerFunc{"GET": s.metricsGet}, public: s.opt.MetricsWithoutAuth},
	}
	for _, r := range rt {
		var m []string
		for k := range r.methods {
			m = append(m, k)
			if k == "GET" {
				m = append(m, "HEAD")
			}
		}
		sort.Strings(m)
		r.allow = strings.Join(m, ", ")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		start := s.now()
		s.serve(rec, r, rt)
		s.metrics.AdminRequests.WithLabelValues(strconv.Itoa(rec.code)).Inc()
		level := s.logLevelFor(r.Method, rec.code)
		s.log.Log(r.Context(), level, "admin request",
			"method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery,
			"client", r.RemoteAddr, "status", rec.code, "duration", s.now().Sub(start))
	})
}

// logLevelFor: changes and refusals are logged at info (an audit trail of
// the API), reads at debug.
func (s *Server) logLevelFor(method string, code int) slog.Level {
	if method != http.MethodGet && method != http.MethodHead || code == http.StatusUnauthorized || code == http.StatusTooManyRequests {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

func cleanPath(p string) string {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return "/"
	}
	return p
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt map[string]*route) {
	if r.URL.Path == apiv1.Prefix || strings.HasPrefix(r.URL.Path, apiv1.Prefix+"/") {
		if role, ok := s.authorize(w, r, true); ok {
			s.v1.Serve(w, r, role)
		}
		return
	}
	if r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, ui.Prefix) {
		ui.Serve(w, r)
		return
	}
	if s.opt.Pprof && strings.HasPrefix(r.URL.Path, pprofPrefix) {
		if role, ok := s.authorize(w, r, false); ok {
			if role != backend.RoleAdmin {
				writeError(w, http.StatusForbidden, "the viewer token cannot read the profiler (profiles show memory contents)", "")
				return
			}
			servePprof(w, r)
		}
		return
	}
	path := cleanPath(r.URL.Path)
	rte := rt[path]
	if rte == nil || !rte.public {
		role, ok := s.authorize(w, r, false)
		if !ok {
			return
		}
		if role != backend.RoleAdmin && r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, http.StatusForbidden, "the viewer token can read but not change anything", "")
			return
		}
	}
	if rte == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s", path), "")
		return
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	h := rte.methods[method]
	if h == nil {
		w.Header().Set("Allow", rte.allow)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, path, rte.allow), "")
		return
	}
	q, err := httpio.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeParamError(w, err)
		return
	}
	h(w, r, q)
}

// maxLockoutWait bounds how long a request from a locked client waits for
// its turn; a longer queue is answered 429 at once.
const maxLockoutWait = limits.AdminMaxLockoutWait

// authorize checks the token, paced by the lockout, and returns the role
// it gives; it writes the refusal (a problem document when problem is
// set) and returns false when the request may not go on.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, problem bool) (string, bool) {
	fail := func(code int, msg string) {
		if problem {
			typ := map[int]string{http.StatusUnauthorized: httpio.ProblemUnauthorized, http.StatusTooManyRequests: httpio.ProblemLocked}[code]
			if typ == "" {
				typ = httpio.ProblemUnavailable
			}
			httpio.WriteProblem(w, r, code, typ, msg)
			return
		}
		writeError(w, code, msg, "")
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		// Not a guess: never counted, never paced (a misconfigured
		// scraper cannot lock anyone out).
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchyard"`)
		fail(http.StatusUnauthorized, "missing bearer token (Authorization: Bearer <token>)")
		return "", false
	}
	key := clientKey(r.RemoteAddr)
	turn, ok := s.lock.reserve(key, s.now(), maxLockoutWait)
	if !ok {
		secs := lockedSeconds(turn.Sub(s.now()))
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		fail(http.StatusTooManyRequests, fmt.Sprintf("too many bad tokens from this address; retry in %d s", secs))
		return "", false
	}
	if d := turn.Sub(s.now()); d > 0 && !s.sleep(d) {
		fail(http.StatusServiceUnavailable, "shutting down")
		return "", false
	}
	tok, ok := bearer(h)
	if ok {
		// Both compared every time: the time taken does not say which
		// token was close.
		isAdmin := tokenMatches(tok, s.token)
		isViewer := s.viewer != nil && tokenMatches(tok, *s.viewer)
		if isAdmin || isViewer {
			s.lock.refund(key, turn)
			if isAdmin {
				return backend.RoleAdmin, true
			}
			return backend.RoleViewer, true
		}
	}
	now := s.now()
	justLocked, locked := s.lock.fail(key, now)
	if justLocked {
		s.metrics.AdminLockouts.Inc()
		s.log.Warn("admin client locked out after bad tokens: its token checks are now paced", "client", r.RemoteAddr,
			"threshold", s.opt.LockoutThreshold, "duration", s.opt.LockoutDuration, "pace", s.opt.LockoutPace)
	}
	if locked && !justLocked {
		secs := lockedSeconds(s.lock.retryAfter(key, now))
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		fail(http.StatusTooManyRequests, fmt.Sprintf("too many bad tokens from this address; retry in %d s", secs))
		return "", false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="switchyard", error="invalid_token"`)
	fail(http.StatusUnauthorized, "invalid bearer token")
	return "", false
}

// lockedSeconds is the Retry-After of a refused bad token (or a too
// long queue) from a locked client.
func lockedSeconds(left time.Duration) int64 {
	return max(int64(math.Ceil(left.Seconds())), 1)
}

// ---- responses

type errorBody struct {
	Error     string `json:"error"`
	Parameter string `json:"parameter,omitempty"`
	Line      int    `json:"line,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg, param string) {
	httpio.WriteJSON(w, code, errorBody{Error: msg, Parameter: param})
}

func writeParamError(w http.ResponseWriter, err error) {
	var pe *httpio.ParamError
	if errors.As(err, &pe) {
		writeError(w, http.StatusBadRequest, pe.Error(), pe.Param)
		return
	}
	writeError(w, http.StatusBadRequest, err.Error(), "")
}

// backendError maps a Backend error to a response. param names the
// parameter an ErrInvalid or ErrNotFound refers to.
func (s *Server) backendError(w http.ResponseWriter, r *http.Request, op, param string, err error) {
	switch {
	case errors.Is(err, backend.ErrUnknownDestination):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: %v", op, err), "destination")
	case errors.Is(err, backend.ErrInvalid):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: %v", op, err), param)
	case errors.Is(err, backend.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s: %v", op, err), param)
	case errors.Is(err, backend.ErrReadOnly):
		writeError(w, http.StatusNotImplemented, fmt.Sprintf("%s: %v", op, err), "")
	case errors.Is(err, backend.ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("%s: %v", op, err), "")
	case errors.Is(err, backend.ErrNotAllowed):
		writeError(w, http.StatusForbidden, fmt.Sprintf("%s: %v", op, err), param)
	default:
		s.log.Error("admin backend call failed", "op", op, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("%s: %v", op, err), "")
	}
}

// ---- endpoints

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ httpio.Query) {
	httpio.WriteText(w, http.StatusOK, "ok\n")
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request, _ httpio.Query) {
	if !s.b.Ready() {
		httpio.WriteText(w, http.StatusServiceUnavailable, "draining\n")
		return
	}
	httpio.WriteText(w, http.StatusOK, "ok\n")
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request, q httpio.Query) {
	httpio.WriteJSON(w, http.StatusOK, httpio.NewStatsBody(s.b, s.now()))
}

func (s *Server) destinations(w http.ResponseWriter, _ *http.Request, q httpio.Query) {
	d := s.b.Destinations()
	if d == nil {
		d = []backend.DestinationStatus{}
	}
	for i := range d {
		if d[i].Protocols == nil {
			d[i].Protocols = []backend.ProtocolStatus{}
		}
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"destinations": d})
}

func (s *Server) destinationReset(w http.ResponseWriter, r *http.Request, q httpio.Query) {
	dest, _, err := q.Destination(true)
	if err != nil {
		writeParamError(w, err)
		return
	}
	if err := s.b.ResetDestination(dest); err != nil {
		if errors.Is(err, backend.ErrNotFound) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("unknown destination %q", dest), "destination")
			return
		}
		s.backendError(w, r, "reset", "destination", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"destination": dest, "reset": true})
}

type mappingBody struct {
	Identifier      string  `json:"identifier"`
	Normalized      string  `json:"normalized"`
	Destination     *string `json:"destination"`
	Source          string  `json:"source"`
	RoutedToDefault bool    `json:"routed_to_default"`
	Cached          bool    `json:"cached"`
}

func (s *Server) mappingGet(w http.ResponseWriter, r *http.Request, q httpio.Query) {
	id, _, err := q.Identifier(true)
	if err != nil {
		writeParamError(w, err)
		return
	}
	info, err := s.b.Mapping(id)
	if err != nil {
		s.backendError(w, r, "lookup", "identifier", err)
		return
	}
	body := mappingBody{Identifier: id, Normalized: info.Normalized, Source: info.Source,
		RoutedToDefault: info.Source == backend.SourceDefault, Cached: info.Cached}
	if body.Source == "" {
		body.Source = backend.SourceNone
	}
	if info.Destination != "" {
		d := info.Destination
		body.Destination = &d
	}
	httpio.WriteJSON(w, http.StatusOK, body)
}

func (s *Server) mappingPut(w http.ResponseWriter, r *http.Request, q httpio.Query) {
	id, _, err := q.Identifier(true)
	if err != nil {
		writeParamError(w, err)
		return
	}
	dest, _, err := q.Destination(true)
	if err != nil {
		writeParamError(w, err)
		return
	}
	if err := s.b.SetMapping(id, dest); err != nil {
		if errors.Is(err, backend.ErrUnknownDestination) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown destination %q", dest), "destination")
			return
		}
		s.backendError(w, r, "set mapping", "identifier", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"identifier": id, "destination": dest, "updated": true})
}

func (s *Server) mappingDelete(w http.ResponseWriter, r *http.Request, q httpio.Query) {
	id, _, err := q.Identifier(true)
	if err != nil {
		writeParamError(w, err)
		return
	}
	removed := true
	if err := s.b.DeleteMapping(id); err != nil {
		if !errors.Is(err, backend.ErrNotFound) {
			s.backendError(w, r, "delete mapping", "identifier", err)
			return
		}
		// As the reference proxy: deleting an absent mapping succeeds
		// ("absent"), so that scripts can delete idempotently.
		removed = false
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"identifier": id, "removed": removed})
}

func (s *Server) mappingsReload(w http.ResponseWriter, r *http.Request, q httpio.Query) {
	s.act(w, r, "reload failed", s.b.ReloadMappings, map[string]any{"reloaded": true})
}

// act answers a change that says nothing but whether it worked: body,
// or the backend's error under op.
func (s *Server) act(w http.ResponseWriter, r *http.Request, op string, change func() error, body map[string]any) {
	if err := change(); err != nil {
		s.backendError(w, r, op, "", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, body)
}

func (s *Server) mappingsExport(w http.ResponseWriter, r *http.Request, q httpio.Query) {
	httpio.Export(w, s.b, s.log, func(err error) { s.backendError(w, r, "export failed", "", err) })
}

func (s *Server) mappingsImport(w http.ResponseWriter, r *http.Request, q httpio.Query) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opt.MaxImportBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes; split the import", s.opt.MaxImportBytes), "")
			return
		}
		writeError(w, http.StatusBadRequest, "reading body: "+err.Error(), "")
		return
	}
	pairs, lines, err := httpio.ParseImport(body)
	if err != nil {
		var le *httpio.LineError
		if errors.As(err, &le) {
			httpio.WriteJSON(w, http.StatusBadRequest, errorBody{Error: le.Error(), Line: le.Line})
			return
		}
		writeError(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	if len(pairs) == 0 {
		writeError(w, http.StatusBadRequest, "the body holds no \"identifier destination\" line", "")
		return
	}
	known := map[string]bool{}
	for _, d := range s.b.Destinations() {
		known[d.ID] = true
	}
	for i, p := range pairs {
		if !known[p.Destination] {
			httpio.WriteJSON(w, http.StatusBadRequest, errorBody{
				Error: fmt.Sprintf("line %d: unknown destination %q", lines[i], p.Destination), Line: lines[i]})
			return
		}
	}
	n, err := s.b.ImportMappings(pairs)
	if err != nil {
		var ie *backend.ItemError
		if errors.As(err, &ie) && ie.Index >= 0 && ie.Index < len(lines) {
			code := http.StatusBadRequest
			switch {
			case errors.Is(ie.Err, backend.ErrReadOnly):
				code = http.StatusNotImplemented
			case errors.Is(ie.Err, backend.ErrNotAllowed):
				code = http.StatusForbidden
			case errors.Is(ie.Err, backend.ErrUnknownDestination), errors.Is(ie.Err, backend.ErrInvalid):
			default:
				code = http.StatusInternalServerError
			}
			httpio.WriteJSON(w, code, struct {
				errorBody
				Imported int `json:"imported"`
			}{errorBody{Error: fmt.Sprintf("line %d: %v", lines[ie.Index], ie.Err), Line: lines[ie.Index]}, n})
			return
		}
		s.backendError(w, r, "import failed", "", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"imported": n})
}

func (s *Server) cacheInvalidate(w http.ResponseWriter, _ *http.Request, q httpio.Query) {
	id, ok, err := q.Identifier(false)
	if err != nil {
		writeParamError(w, err)
		return
	}
	s.b.InvalidateCache(id)
	if !ok {
		httpio.WriteJSON(w, http.StatusOK, map[string]any{"invalidated": true, "all": true})
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"invalidated": true, "identifier": id})
}

// filter reads the connection filter parameters.
func connFilter(q httpio.Query) (backend.ConnFilter, error) {
	var f backend.ConnFilter
	var err error
	if f.Identifier, _, err = q.Identifier(false); err != nil {
		return f, err
	}
	if f.Destination, _, err = q.Destination(false); err != nil {
		return f, err
	}
	if f.Protocol, err = q.OneOf("protocol", httpio.Protocols); err != nil {
		return f, err
	}
	if f.State, err = q.OneOf("state", []string{backend.StatePreauth, backend.StateBridged}); err != nil {
		return f, err
	}
	if v, ok := q["id"]; ok {
		n, perr := strconv.ParseUint(v, 10, 64)
		if perr != nil || n == 0 || v[0] == '+' {
			return f, &httpio.ParamError{Param: "id", Msg: fmt.Sprintf("%q is not a connection id", v)}
		}
		f.ID = n
	}
	return f, nil
}

type connectionBody struct {
	backend.Connection
	AgeSeconds float64 `json:"age_seconds"`
}

func (s *Server) connections(w http.ResponseWriter, _ *http.Request, q httpio.Query) {
	f, err := connFilter(q)
	if err != nil {
		writeParamError(w, err)
		return
	}
	conns := s.b.Connections(f)
	out := make([]connectionBody, 0, len(conns))
	for _, c := range conns {
		out = append(out, connectionBody{Connection: c, AgeSeconds: math.Round(c.Age.Seconds()*1000) / 1000})
	}
	slices.SortFunc(out, func(a, b connectionBody) int { return cmp.Compare(a.ID, b.ID) })
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"connections": out, "count": len(out)})
}

func (s *Server) kick(w http.ResponseWriter, _ *http.Request, q httpio.Query) {
	f, err := connFilter(q)
	if err != nil {
		writeParamError(w, err)
		return
	}
	if f.Identifier == "" && f.Destination == "" && f.ID == 0 {
		writeError(w, http.StatusBadRequest, `parameter "identifier" or "destination" is required (kicking everyone takes POST /drain)`, "identifier")
		return
	}
	n := s.b.Kick(f)
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"kicked": n})
}

func (s *Server) delay(w http.ResponseWriter, r *http.Request, q httpio.Query) {
	id, _, err := q.Identifier(true)
	if err != nil {
		writeParamError(w, err)
		return
	}
	secs, err := q.Seconds("seconds", httpio.MaxDelaySeconds)
	if err != nil {
		writeParamError(w, err)
		return
	}
	d := time.Duration(secs) * time.Second
	if err := s.b.Delay(id, d); err != nil {
		s.backendError(w, r, "delay", "identifier", err)
		return
	}
	body := map[string]any{"identifier": id, "seconds": secs}
	if secs > 0 {
		body["until"] = s.now().Add(d).UTC().Format(time.RFC3339)
	}
	httpio.WriteJSON(w, http.StatusOK, body)
}

func (s *Server) configReload(w http.ResponseWriter, r *http.Request, q httpio.Query) {
	notes, err := s.b.ReloadConfig()
	if err != nil {
		if errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrNotAllowed) {
			s.backendError(w, r, "config reload", "", err)
			return
		}
		// The running configuration was kept: the request was understood
		// but the new file cannot be applied.
		writeError(w, http.StatusUnprocessableEntity, "reload failed, running configuration kept: "+err.Error(), "")
		return
	}
	if notes == nil {
		notes = []string{}
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"reloaded": true, "notes": notes})
}

func (s *Server) drain(w http.ResponseWriter, r *http.Request, q httpio.Query) {
	s.act(w, r, "drain", s.b.Drain, map[string]any{"draining": true})
}

// undrain is DELETE /drain: take new connections again.
func (s *Server) undrain(w http.ResponseWriter, r *http.Request, q httpio.Query) {
	s.act(w, r, "undrain", s.b.Undrain, map[string]any{"draining": false})
}

func (s *Server) logLevel(w http.ResponseWriter, r *http.Request, q httpio.Query) {
	if _, ok := q["level"]; !ok {
		writeParamError(w, &httpio.ParamError{Param: "level", Msg: "is required (" + strings.Join(httpio.LogLevels, ", ") + ")"})
		return
	}
	level, err := q.OneOf("level", httpio.LogLevels)
	if err != nil {
		writeParamError(w, err)
		return
	}
	if err := s.b.SetLogLevel(level); err != nil {
		s.backendError(w, r, "set log level", "level", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"level": level})
}

func (s *Server) metricsGet(w http.ResponseWriter, r *http.Request, _ httpio.Query) {
	s.metricsH.ServeHTTP(w, r)
}

func promhandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		MaxRequestsInFlight: limits.MetricsScrapesInFlight,
		Timeout:             limits.MetricsScrapeTimeout,
		ErrorHandling:       promhttp.ContinueOnError,
	})
}

// statusRecorder remembers the status code for the log and the metrics.
type statusRecorder struct {
	http.ResponseWriter
	code    int
	written bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.written {
		r.code, r.written = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	r.written = true
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
