package apiv1

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/admin/httpio"
)

func (s *API) v1Routes() *v1Router {
	rt := &v1Router{}
	p := Prefix
	rt.add("GET", p+"/openapi.json", s.v1OpenAPI)
	rt.add("GET", p+"/whoami", s.v1Whoami)
	rt.add("GET", p+"/instance", s.v1Instance)
	rt.add("GET", p+"/stats", s.v1Stats)
	rt.add("POST", p+"/drain", s.v1Drain)
	rt.add("DELETE", p+"/drain", s.v1Undrain)
	rt.add("PUT", p+"/log-level", s.v1LogLevel)

	rt.add("GET", p+"/destinations", s.v1Destinations)
	rt.add("GET", p+"/destinations/{destination}", s.v1Destination)
	rt.add("PUT", p+"/destinations/{destination}/maintenance", s.v1Maintenance)
	rt.add("POST", p+"/destinations/{destination}/reset", s.v1DestinationReset)
	rt.add("POST", p+"/destinations/{destination}/drain", s.v1DestinationDrain)

	rt.add("GET", p+"/mappings", s.v1Mappings, "search", "destination", "cursor", "limit")
	rt.add("GET", p+"/mappings/counts", s.v1MappingCounts)
	rt.add("GET", p+"/mappings/export", s.v1MappingsExport)
	rt.add("POST", p+"/mappings/import", s.v1MappingsImport, "dry_run")
	rt.add("POST", p+"/mappings/reload", s.v1MappingsReload)
	rt.add("GET", p+"/mappings/{identifier}", s.v1MappingGet)
	rt.add("PUT", p+"/mappings/{identifier}", s.v1MappingPut)
	rt.add("DELETE", p+"/mappings/{identifier}", s.v1MappingDelete)

	rt.add("GET", p+"/accounts/{account}", s.v1Account)
	rt.add("GET", p+"/accounts/{account}/route", s.v1AccountRoute)
	rt.add("GET", p+"/accounts/{account}/sessions", s.v1AccountSessions)
	rt.add("POST", p+"/accounts/{account}/kick", s.v1AccountKick)
	rt.add("POST", p+"/accounts/{account}/cutover", s.v1Cutover)

	rt.add("GET", p+"/sessions", s.v1Sessions, "account", "destination", "protocol", "client", "state", "limit")
	rt.add("POST", p+"/sessions/kick", s.v1SessionsKick)
	rt.add("GET", p+"/sessions/{id}", s.v1Session)
	rt.add("DELETE", p+"/sessions/{id}", s.v1SessionKick)

	rt.add("GET", p+"/holds", s.v1Holds)
	rt.add("GET", p+"/holds/{account}", s.v1Hold)
	rt.add("PUT", p+"/holds/{account}", s.v1HoldPut)
	rt.add("DELETE", p+"/holds/{account}", s.v1HoldDelete)

	rt.add("GET", p+"/cache", s.v1Cache)
	rt.add("DELETE", p+"/cache", s.v1CacheClear)
	rt.add("GET", p+"/cache/{account}", s.v1CacheEntry)
	rt.add("DELETE", p+"/cache/{account}", s.v1CacheDelete)

	rt.add("GET", p+"/config", s.v1Config)
	rt.add("POST", p+"/config/reload", s.v1ConfigReload)

	rt.add("GET", p+"/events", s.v1Events, "after", "kind", "account", "limit")
	rt.add("GET", p+"/events/stream", s.v1EventStream, "after", "kind", "account")
	rt.add("GET", p+"/history", s.v1History, "minutes")
	return rt
}

// ---- process

func (s *API) v1OpenAPI(w http.ResponseWriter, _ *http.Request, _ *v1Ctx) {
	httpio.SetBodyHeaders(w.Header(), "application/json")
	_, _ = w.Write(s.spec)
}

func (s *API) v1Whoami(w http.ResponseWriter, _ *http.Request, c *v1Ctx) {
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"role": c.role, "instance": s.console.Instance().Name})
}

func (s *API) v1Instance(w http.ResponseWriter, _ *http.Request, _ *v1Ctx) {
	in := s.console.Instance()
	if in.Peers == nil {
		in.Peers = []backend.Peer{}
	}
	httpio.WriteJSON(w, http.StatusOK, in)
}

type v1StatsBody struct {
	httpio.StatsBody
	Instance              string            `json:"instance"`
	SessionsByProtocol    map[string]int    `json:"sessions_by_protocol"`
	SessionsByDestination map[string]int    `json:"sessions_by_destination"`
	SessionsByState       map[string]int    `json:"sessions_by_state"`
	Cache                 backend.CacheInfo `json:"cache"`
}

func (s *API) v1Stats(w http.ResponseWriter, _ *http.Request, _ *v1Ctx) {
	body := v1StatsBody{StatsBody: httpio.NewStatsBody(s.b, s.now()), Instance: s.console.Instance().Name,
		SessionsByProtocol: map[string]int{}, SessionsByDestination: map[string]int{}, SessionsByState: map[string]int{},
		Cache: s.console.CacheInfo()}
	if body.UptimeSeconds == nil {
		body.UptimeSeconds = new(int64) // always there in /api/v1
	}
	for _, se := range s.console.Sessions(backend.SessionFilter{}) {
		body.SessionsByProtocol[se.Protocol]++
		body.SessionsByState[se.State]++
		if se.Destination != "" {
			body.SessionsByDestination[se.Destination]++
		}
	}
	httpio.WriteJSON(w, http.StatusOK, body)
}

func (s *API) v1Drain(w http.ResponseWriter, r *http.Request, _ *v1Ctx) {
	if err := s.b.Drain(); err != nil {
		s.v1Error(w, r, "drain", "", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"draining": true})
}

func (s *API) v1Undrain(w http.ResponseWriter, r *http.Request, _ *v1Ctx) {
	if err := s.b.Undrain(); err != nil {
		s.v1Error(w, r, "end the drain", "", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"draining": false})
}

func (s *API) v1LogLevel(w http.ResponseWriter, r *http.Request, _ *v1Ctx) {
	var body struct {
		Level string `json:"level"`
	}
	if !s.readJSON(w, r, &body) {
		return
	}
	if !slices.Contains(httpio.LogLevels, body.Level) {
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, fmt.Sprintf("level %q is not one of %s", body.Level, strings.Join(httpio.LogLevels, ", ")), httpio.WithParam("level"))
		return
	}
	if err := s.b.SetLogLevel(body.Level); err != nil {
		s.v1Error(w, r, "set log level", "level", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"level": body.Level})
}

// ---- destinations

func (s *API) destination(w http.ResponseWriter, r *http.Request, c *v1Ctx) (backend.Destination, bool) {
	id, err := c.pathToken("destination", httpio.MaxDestinationLen)
	if err != nil {
		s.v1ParamError(w, r, err)
		return backend.Destination{}, false
	}
	for _, d := range s.console.DestinationDetails() {
		if d.ID == id {
			return fillDestination(d), true
		}
	}
	httpio.WriteProblem(w, r, http.StatusNotFound, httpio.ProblemNotFound, fmt.Sprintf("unknown destination %q", id), httpio.WithParam("destination"))
	return backend.Destination{}, false
}

func fillDestination(d backend.Destination) backend.Destination {
	if d.Protocols == nil {
		d.Protocols = []backend.DestProtocolInfo{}
	}
	if d.SessionsByProtocol == nil {
		d.SessionsByProtocol = map[string]int{}
	}
	return d
}

func (s *API) v1Destinations(w http.ResponseWriter, _ *http.Request, _ *v1Ctx) {
	ds := s.console.DestinationDetails()
	out := make([]backend.Destination, 0, len(ds))
	for _, d := range ds {
		out = append(out, fillDestination(d))
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"destinations": out})
}

func (s *API) v1Destination(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	if d, ok := s.destination(w, r, c); ok {
		httpio.WriteJSON(w, http.StatusOK, d)
	}
}

func (s *API) v1Maintenance(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	d, ok := s.destination(w, r, c)
	if !ok {
		return
	}
	var body struct {
		Enabled *bool `json:"enabled"`
	}
	if !s.readJSON(w, r, &body) {
		return
	}
	if body.Enabled == nil {
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, `field "enabled" is required (true or false)`, httpio.WithParam("enabled"))
		return
	}
	if err := s.console.SetMaintenance(d.ID, *body.Enabled); err != nil {
		s.v1Error(w, r, "maintenance", "destination", err)
		return
	}
	s.v1Destination(w, r, c)
}

func (s *API) v1DestinationReset(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	if _, ok := s.changeDestination(w, r, c, "reset", s.b.ResetDestination); ok {
		s.v1Destination(w, r, c)
	}
}

func (s *API) v1DestinationDrain(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	id, ok := s.changeDestination(w, r, c, "drain", func(id string) error { return s.console.SetMaintenance(id, true) })
	if !ok {
		return
	}
	n := s.console.KickSessions(backend.SessionFilter{Destination: id})
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"destination": id, "maintenance": true, "kicked": n})
}

// changeDestination applies change to the {destination} of the path;
// when either fails it has answered (the error under op), and ok is false.
func (s *API) changeDestination(w http.ResponseWriter, r *http.Request, c *v1Ctx, op string, change func(id string) error) (id string, ok bool) {
	d, ok := s.destination(w, r, c)
	if !ok {
		return "", false
	}
	if err := change(d.ID); err != nil {
		s.v1Error(w, r, op, "destination", err)
		return "", false
	}
	return d.ID, true
}

// ---- mappings

// maxListPages bounds the store pages one list request reads while a
// destination filter skips entries.
const maxListPages = 20

func (s *API) v1Mappings(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	search, _, err := c.q.Optional("search", httpio.MaxIdentifierLen)
	if err != nil {
		s.v1ParamError(w, r, err)
		return
	}
	dest, _, err := c.q.Destination(false)
	if err != nil {
		s.v1ParamError(w, r, err)
		return
	}
	cursor := c.q["cursor"]
	limit, err := c.q.IntParam("limit", 100, 1, 1000)
	if err != nil {
		s.v1ParamError(w, r, err)
		return
	}
	out := []backend.MappingEntry{}
	for range maxListPages {
		page, next, err := s.console.ListMappings(r.Context(), cursor, search, limit-len(out))
		if err != nil {
			s.v1Error(w, r, "list mappings", "cursor", err)
			return
		}
		for _, m := range page {
			if dest == "" || m.Destination == dest {
				out = append(out, m)
			}
		}
		cursor = next
		if next == "" || len(out) >= limit {
			break
		}
	}
	body := map[string]any{"mappings": out, "count": len(out), "next_cursor": nil}
	if cursor != "" {
		body["next_cursor"] = cursor
	}
	httpio.WriteJSON(w, http.StatusOK, body)
}

func (s *API) v1MappingCounts(w http.ResponseWriter, r *http.Request, _ *v1Ctx) {
	counts, err := s.console.MappingCounts(r.Context())
	if err != nil {
		s.v1Error(w, r, "count mappings", "", err)
		return
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"total": total, "destinations": counts})
}

func (s *API) v1MappingsExport(w http.ResponseWriter, r *http.Request, _ *v1Ctx) {
	httpio.Export(w, s.b, s.log, func(err error) { s.v1Error(w, r, "export", "", err) })
}

func (s *API) v1MappingsReload(w http.ResponseWriter, r *http.Request, _ *v1Ctx) {
	if err := s.b.ReloadMappings(); err != nil {
		s.v1Error(w, r, "reload mappings", "", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"reloaded": true})
}

// v1Identifier reads the {identifier} path parameter and its normalized
// form.
func (s *API) v1Identifier(w http.ResponseWriter, r *http.Request, c *v1Ctx, name string) (id, n string, ok bool) {
	id, err := c.pathToken(name, httpio.MaxIdentifierLen)
	if err != nil {
		s.v1ParamError(w, r, err)
		return "", "", false
	}
	if n = s.console.Normalize(id); n == "" {
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, fmt.Sprintf("%q is empty once normalized", id), httpio.WithParam(name))
		return "", "", false
	}
	return id, n, true
}

// current reads the explicit mapping of n ("" when none).
// v1IdentifierAndBody is v1Identifier, then the request's JSON read into
// body; when either fails it has answered, and ok is false.
func (s *API) v1IdentifierAndBody(w http.ResponseWriter, r *http.Request, c *v1Ctx, name string, body any) (id, n string, ok bool) {
	if id, n, ok = s.v1Identifier(w, r, c, name); !ok || !s.readJSON(w, r, body) {
		return "", "", false
	}
	return id, n, true
}

func (s *API) current(ctx context.Context, n string) (string, error) {
	m, err := s.console.Mappings(ctx, []string{n})
	return m[n], err
}

func Nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// v1Mapping reads the {identifier} of the path and its explicit mapping;
// when either fails, or there is no mapping (a 404 whose detail ends in
// hint), it has answered, and ok is false.
func (s *API) v1Mapping(w http.ResponseWriter, r *http.Request, c *v1Ctx, hint string) (id, n, dest string, ok bool) {
	if id, n, ok = s.v1Identifier(w, r, c, "identifier"); !ok {
		return "", "", "", false
	}
	dest, err := s.current(r.Context(), n)
	if err != nil {
		s.v1Error(w, r, "lookup", "identifier", err)
		return "", "", "", false
	}
	if dest == "" {
		httpio.WriteProblem(w, r, http.StatusNotFound, httpio.ProblemNotFound, fmt.Sprintf("%q has no explicit mapping", n)+hint, httpio.WithParam("identifier"))
		return "", "", "", false
	}
	return id, n, dest, true
}

func (s *API) v1MappingGet(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	id, n, d, ok := s.v1Mapping(w, r, c, " (GET /api/v1/accounts/{account}/route says where it goes)")
	if !ok {
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"identifier": id, "normalized": n, "destination": d})
}

func (s *API) v1MappingPut(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	var body struct {
		Destination string `json:"destination"`
	}
	id, n, ok := s.v1IdentifierAndBody(w, r, c, "identifier", &body)
	if !ok {
		return
	}
	if msg := httpio.CheckToken("destination", body.Destination, httpio.MaxDestinationLen); msg != "" {
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, "destination "+msg, httpio.WithParam("destination"))
		return
	}
	prev, err := s.current(r.Context(), n)
	if err != nil {
		s.v1Error(w, r, "lookup", "identifier", err)
		return
	}
	if err := s.b.SetMapping(id, body.Destination); err != nil {
		s.v1Error(w, r, "set mapping", "identifier", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"identifier": id, "normalized": n, "destination": body.Destination, "previous": Nullable(prev)})
}

func (s *API) v1MappingDelete(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	// Some stores delete an absent key without a word: v1Mapping says it.
	id, n, prev, ok := s.v1Mapping(w, r, c, "")
	if !ok {
		return
	}
	if err := s.b.DeleteMapping(id); err != nil {
		s.v1Error(w, r, "delete mapping", "identifier", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"identifier": id, "normalized": n, "removed": true, "previous": Nullable(prev)})
}

// importChange is one line of an import's report.
type importChange struct {
	Identifier string  `json:"identifier"`
	From       *string `json:"from"`
	To         string  `json:"to"`
}

// maxImportChanges bounds the changes an import's report lists.
const maxImportChanges = 1000

func (s *API) v1MappingsImport(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	dry, err := c.q.BoolParam("dry_run", false)
	if err != nil {
		s.v1ParamError(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxImport))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpio.WriteProblem(w, r, http.StatusRequestEntityTooLarge, httpio.ProblemTooLarge, fmt.Sprintf("body larger than %d bytes; split the import", s.maxImport))
			return
		}
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, "reading the body: "+err.Error())
		return
	}
	var pairs []backend.Pair
	var lines []int
	switch ct := httpio.MediaType(r.Header.Get("Content-Type")); ct {
	case "", "text/plain":
		pairs, lines, err = httpio.ParseImport(body)
	case "text/csv":
		pairs, lines, err = ParseCSVImport(body)
	case "application/json":
		pairs, lines, err = ParseJSONImport(body)
	default:
		httpio.WriteProblem(w, r, http.StatusUnsupportedMediaType, httpio.ProblemMediaType, fmt.Sprintf("Content-Type %q: send text/plain (mapping file lines), text/csv or application/json", ct))
		return
	}
	if err != nil {
		var le *httpio.LineError
		if errors.As(err, &le) {
			httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, le.Error(), httpio.WithLine(le.Line))
			return
		}
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, err.Error())
		return
	}
	if len(pairs) == 0 {
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, "the body holds no mapping")
		return
	}
	known := map[string]bool{}
	for _, d := range s.b.Destinations() {
		known[d.ID] = true
	}
	norm := make([]string, len(pairs))
	seen := map[string]int{}
	for i, p := range pairs {
		n := s.console.Normalize(p.Identifier)
		switch {
		case n == "":
			httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, fmt.Sprintf("line %d: %q is empty once normalized", lines[i], p.Identifier), httpio.WithLine(lines[i]))
			return
		case seen[n] != 0:
			httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, fmt.Sprintf("line %d: %q is the account of line %d", lines[i], p.Identifier, seen[n]), httpio.WithLine(lines[i]))
			return
		case !known[p.Destination]:
			httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, fmt.Sprintf("line %d: unknown destination %q", lines[i], p.Destination), httpio.WithLine(lines[i]))
			return
		}
		seen[n] = lines[i]
		norm[i] = n
	}
	cur, err := s.console.Mappings(r.Context(), norm)
	if err != nil {
		s.v1Error(w, r, "read the current mappings", "", err)
		return
	}
	report := struct {
		DryRun    bool           `json:"dry_run"`
		Total     int            `json:"total"`
		Added     int            `json:"added"`
		Changed   int            `json:"changed"`
		Unchanged int            `json:"unchanged"`
		Applied   int            `json:"applied"`
		Changes   []importChange `json:"changes"`
		Truncated bool           `json:"truncated"`
	}{DryRun: dry, Total: len(pairs), Changes: []importChange{}}
	var todo []backend.Pair
	var todoLines []int
	for i, p := range pairs {
		prev := cur[norm[i]]
		switch {
		case prev == p.Destination:
			report.Unchanged++
			continue
		case prev == "":
			report.Added++
		default:
			report.Changed++
		}
		todo = append(todo, backend.Pair{Identifier: norm[i], Destination: p.Destination})
		todoLines = append(todoLines, lines[i])
		if len(report.Changes) < maxImportChanges {
			report.Changes = append(report.Changes, importChange{Identifier: norm[i], From: Nullable(prev), To: p.Destination})
		} else {
			report.Truncated = true
		}
	}
	if !dry && len(todo) > 0 {
		n, err := s.b.ImportMappings(todo)
		report.Applied = n
		if err != nil {
			var ie *backend.ItemError
			if errors.As(err, &ie) && ie.Index >= 0 && ie.Index < len(todoLines) {
				s.v1Error(w, r, fmt.Sprintf("line %d (after %d applied)", todoLines[ie.Index], n), "", ie.Err)
				return
			}
			s.v1Error(w, r, fmt.Sprintf("import (after %d applied)", n), "", err)
			return
		}
	}
	httpio.WriteJSON(w, http.StatusOK, report)
}

// parseCSVImport reads "identifier,destination" records; a first record
// "identifier,destination" is a header.
func ParseCSVImport(body []byte) ([]backend.Pair, []int, error) {
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var pairs []backend.Pair
	var lines []int
	for rec := 0; ; rec++ {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return pairs, lines, nil
		}
		if err != nil {
			var pe *csv.ParseError
			line := 1
			if errors.As(err, &pe) {
				line = max(pe.StartLine, 1)
			}
			return nil, nil, &httpio.LineError{Line: line, Msg: err.Error()}
		}
		line, _ := cr.FieldPos(0)
		if len(fields) == 1 && strings.TrimSpace(fields[0]) == "" {
			continue
		}
		if len(fields) != 2 {
			return nil, nil, &httpio.LineError{Line: line, Msg: fmt.Sprintf("want \"identifier,destination\", got %d field(s)", len(fields))}
		}
		id, dest := strings.TrimSpace(fields[0]), strings.TrimSpace(fields[1])
		if rec == 0 && strings.EqualFold(id, "identifier") && strings.EqualFold(dest, "destination") {
			continue
		}
		if msg := httpio.CheckToken("identifier", id, httpio.MaxIdentifierLen); msg != "" {
			return nil, nil, &httpio.LineError{Line: line, Msg: "identifier " + msg}
		}
		if msg := httpio.CheckToken("destination", dest, httpio.MaxDestinationLen); msg != "" {
			return nil, nil, &httpio.LineError{Line: line, Msg: "destination " + msg}
		}
		pairs = append(pairs, backend.Pair{Identifier: id, Destination: dest})
		lines = append(lines, line)
	}
}

// parseJSONImport reads {"mappings": [{"identifier", "destination"}]};
// a "line" is an item's position (1-based).
func ParseJSONImport(body []byte) ([]backend.Pair, []int, error) {
	var doc struct {
		Mappings []backend.MappingEntry `json:"mappings"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, fmt.Errorf("body: %v", err)
	}
	var pairs []backend.Pair
	var lines []int
	for i, m := range doc.Mappings {
		if msg := httpio.CheckToken("identifier", m.Identifier, httpio.MaxIdentifierLen); msg != "" {
			return nil, nil, &httpio.LineError{Line: i + 1, Msg: "identifier " + msg}
		}
		if msg := httpio.CheckToken("destination", m.Destination, httpio.MaxDestinationLen); msg != "" {
			return nil, nil, &httpio.LineError{Line: i + 1, Msg: "destination " + msg}
		}
		pairs = append(pairs, backend.Pair(m))
		lines = append(lines, i+1)
	}
	return pairs, lines, nil
}

// ---- accounts

func (s *API) route(w http.ResponseWriter, r *http.Request, c *v1Ctx) (string, backend.Route, bool) {
	id, _, ok := s.v1Identifier(w, r, c, "account")
	if !ok {
		return "", backend.Route{}, false
	}
	rte, err := s.console.ExplainRoute(r.Context(), id)
	if err != nil {
		s.v1Error(w, r, "route", "account", err)
		return "", backend.Route{}, false
	}
	if rte.Steps == nil {
		rte.Steps = []backend.RouteStep{}
	}
	return id, rte, true
}

func (s *API) sessionsOf(f backend.SessionFilter) []backend.Session {
	ss := s.console.Sessions(f)
	if ss == nil {
		ss = []backend.Session{}
	}
	slices.SortFunc(ss, func(a, b backend.Session) int { return cmp.Compare(a.ID, b.ID) })
	return ss
}

func (s *API) holdOf(n string) *backend.Hold {
	for _, h := range s.console.Holds() {
		if h.Account == n {
			return &h
		}
	}
	return nil
}

func (s *API) v1Account(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	id, rte, ok := s.route(w, r, c)
	if !ok {
		return
	}
	ss := s.sessionsOf(backend.SessionFilter{Account: rte.Normalized})
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"account": id, "normalized": rte.Normalized, "route": rte,
		"hold": s.holdOf(rte.Normalized), "sessions": ss, "count": len(ss)})
}

func (s *API) v1AccountRoute(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	if _, rte, ok := s.route(w, r, c); ok {
		httpio.WriteJSON(w, http.StatusOK, rte)
	}
}

func (s *API) v1AccountSessions(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	_, n, ok := s.v1Identifier(w, r, c, "account")
	if !ok {
		return
	}
	ss := s.sessionsOf(backend.SessionFilter{Account: n})
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"sessions": ss, "count": len(ss)})
}

func (s *API) v1AccountKick(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	_, n, ok := s.v1Identifier(w, r, c, "account")
	if !ok {
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"kicked": s.console.KickSessions(backend.SessionFilter{Account: n})})
}

func (s *API) v1Cutover(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	id, _, ok := s.v1Identifier(w, r, c, "account")
	if !ok {
		return
	}
	var req backend.CutoverRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if msg := httpio.CheckToken("destination", req.Destination, httpio.MaxDestinationLen); msg != "" {
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, "destination "+msg, httpio.WithParam("destination"))
		return
	}
	req.Hold = backend.DefaultCutoverHold
	if req.MaxHold != "" {
		d, err := time.ParseDuration(req.MaxHold)
		if err != nil || d <= 0 || d > backend.MaxCutoverHold {
			httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid,
				fmt.Sprintf("max_hold %q: want a duration above 0 and at most %v (\"10s\")", req.MaxHold, backend.MaxCutoverHold), httpio.WithParam("max_hold"))
			return
		}
		req.Hold = d
	}
	if len(req.Aliases) > backend.MaxCutoverAliases {
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, fmt.Sprintf("%d aliases: at most %d", len(req.Aliases), backend.MaxCutoverAliases), httpio.WithParam("aliases"))
		return
	}
	for _, a := range req.Aliases {
		if msg := httpio.CheckToken("alias", a, httpio.MaxIdentifierLen); msg != "" {
			httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, fmt.Sprintf("alias %q %s", a, msg), httpio.WithParam("aliases"))
			return
		}
	}
	rep, err := s.console.Cutover(r.Context(), id, req)
	if err != nil {
		s.v1Error(w, r, "cut-over", "account", err)
		return
	}
	for _, p := range []*[]string{&rep.Aliases, &rep.Mapped, &rep.Missing} {
		if *p == nil {
			*p = []string{}
		}
	}
	if rep.Instances == nil {
		rep.Instances = []backend.CutoverInstance{}
	}
	httpio.WriteJSON(w, http.StatusOK, rep)
}

// ---- sessions

func (s *API) v1Sessions(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	var f backend.SessionFilter
	var err error
	fail := func(err error) { s.v1ParamError(w, r, err) }
	if f.Account, _, err = c.q.Optional("account", httpio.MaxIdentifierLen); err != nil {
		fail(err)
		return
	}
	if f.Destination, _, err = c.q.Destination(false); err != nil {
		fail(err)
		return
	}
	if f.Protocol, err = c.q.OneOf("protocol", httpio.Protocols); err != nil {
		fail(err)
		return
	}
	if f.State, err = c.q.OneOf("state", backend.SessionStates); err != nil {
		fail(err)
		return
	}
	if f.Client, _, err = c.q.Optional("client", 64); err != nil {
		fail(err)
		return
	}
	if err := checkClientFilter(f.Client); err != nil {
		fail(err)
		return
	}
	limit, err := c.q.IntParam("limit", 1000, 1, 10000)
	if err != nil {
		fail(err)
		return
	}
	if f.Account != "" {
		f.Account = s.console.Normalize(f.Account)
	}
	ss := s.sessionsOf(f)
	total := len(ss)
	if len(ss) > limit {
		ss = ss[:limit]
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"sessions": ss, "count": len(ss), "total": total})
}

// checkClientFilter accepts an IP, a CIDR or ip:port.
func checkClientFilter(v string) error {
	if _, err := ClientFilter(v); err != nil {
		return &httpio.ParamError{Param: "client", Msg: err.Error()}
	}
	return nil
}

func (s *API) v1SessionsKick(w http.ResponseWriter, r *http.Request, _ *v1Ctx) {
	var body struct {
		ID          uint64 `json:"id"`
		Account     string `json:"account"`
		Destination string `json:"destination"`
		Protocol    string `json:"protocol"`
		Client      string `json:"client"`
		State       string `json:"state"`
	}
	if !s.readJSON(w, r, &body) {
		return
	}
	if body.ID == 0 && body.Account == "" && body.Destination == "" && body.Client == "" {
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, "give id, account, destination or client (kicking everyone takes POST /api/v1/drain)", httpio.WithParam("account"))
		return
	}
	for _, chk := range []struct {
		name, v string
		ok      bool
	}{
		{"protocol", body.Protocol, body.Protocol == "" || slices.Contains(httpio.Protocols, body.Protocol)},
		{"state", body.State, body.State == "" || slices.Contains(backend.SessionStates, body.State)},
		{"client", body.Client, checkClientFilter(body.Client) == nil},
		{"account", body.Account, body.Account == "" || httpio.CheckToken("account", body.Account, httpio.MaxIdentifierLen) == ""},
		{"destination", body.Destination, body.Destination == "" || httpio.CheckToken("destination", body.Destination, httpio.MaxDestinationLen) == ""},
	} {
		if !chk.ok {
			httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, fmt.Sprintf("%s %q is not valid", chk.name, chk.v), httpio.WithParam(chk.name))
			return
		}
	}
	f := backend.SessionFilter{ID: body.ID, Destination: body.Destination, Protocol: body.Protocol, Client: body.Client, State: body.State}
	if body.Account != "" {
		if f.Account = s.console.Normalize(body.Account); f.Account == "" {
			httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, "account is empty once normalized", httpio.WithParam("account"))
			return
		}
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"kicked": s.console.KickSessions(f)})
}

func (s *API) sessionID(w http.ResponseWriter, r *http.Request, c *v1Ctx) (uint64, bool) {
	v := c.params["id"]
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 || v[0] == '+' {
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, fmt.Sprintf("%q is not a session id", v), httpio.WithParam("id"))
		return 0, false
	}
	return n, true
}

func (s *API) v1Session(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	id, ok := s.sessionID(w, r, c)
	if !ok {
		return
	}
	ss := s.console.Sessions(backend.SessionFilter{ID: id})
	if len(ss) == 0 {
		httpio.WriteProblem(w, r, http.StatusNotFound, httpio.ProblemNotFound, fmt.Sprintf("no live session %d", id), httpio.WithParam("id"))
		return
	}
	httpio.WriteJSON(w, http.StatusOK, ss[0])
}

func (s *API) v1SessionKick(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	id, ok := s.sessionID(w, r, c)
	if !ok {
		return
	}
	if s.console.KickSessions(backend.SessionFilter{ID: id}) == 0 {
		httpio.WriteProblem(w, r, http.StatusNotFound, httpio.ProblemNotFound, fmt.Sprintf("no live session %d", id), httpio.WithParam("id"))
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"kicked": 1})
}

// ---- holds

func (s *API) v1Holds(w http.ResponseWriter, _ *http.Request, _ *v1Ctx) {
	hs := s.console.Holds()
	if hs == nil {
		hs = []backend.Hold{}
	}
	slices.SortFunc(hs, func(a, b backend.Hold) int { return strings.Compare(a.Account, b.Account) })
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"holds": hs})
}

func (s *API) v1Hold(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	_, n, ok := s.v1Identifier(w, r, c, "account")
	if !ok {
		return
	}
	h := s.holdOf(n)
	if h == nil {
		httpio.WriteProblem(w, r, http.StatusNotFound, httpio.ProblemNotFound, fmt.Sprintf("%q is not held", n), httpio.WithParam("account"))
		return
	}
	httpio.WriteJSON(w, http.StatusOK, h)
}

func (s *API) v1HoldPut(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	var body struct {
		Seconds int64 `json:"seconds"`
	}
	id, n, ok := s.v1IdentifierAndBody(w, r, c, "account", &body)
	if !ok {
		return
	}
	if body.Seconds < 1 || body.Seconds > httpio.MaxDelaySeconds {
		httpio.WriteProblem(w, r, http.StatusBadRequest, httpio.ProblemInvalid, fmt.Sprintf("seconds %d: want 1 to %d (DELETE lifts a hold)", body.Seconds, httpio.MaxDelaySeconds), httpio.WithParam("seconds"))
		return
	}
	if err := s.b.Delay(id, time.Duration(body.Seconds)*time.Second); err != nil {
		s.v1Error(w, r, "hold", "account", err)
		return
	}
	h := s.holdOf(n)
	if h == nil {
		h = &backend.Hold{Account: n, Until: s.now().Add(time.Duration(body.Seconds) * time.Second), RemainingSeconds: float64(body.Seconds)}
	}
	httpio.WriteJSON(w, http.StatusOK, h)
}

func (s *API) v1HoldDelete(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	id, n, ok := s.v1Identifier(w, r, c, "account")
	if !ok {
		return
	}
	was := s.holdOf(n) != nil
	if err := s.b.Delay(id, 0); err != nil {
		s.v1Error(w, r, "release", "account", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"account": n, "lifted": was})
}

// ---- cache

func (s *API) v1Cache(w http.ResponseWriter, _ *http.Request, _ *v1Ctx) {
	httpio.WriteJSON(w, http.StatusOK, s.console.CacheInfo())
}

func (s *API) v1CacheClear(w http.ResponseWriter, _ *http.Request, _ *v1Ctx) {
	s.b.InvalidateCache("")
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"invalidated": true, "all": true})
}

func (s *API) v1CacheEntry(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	id, _, ok := s.v1Identifier(w, r, c, "account")
	if !ok {
		return
	}
	e, err := s.console.CacheEntry(id)
	if err != nil {
		s.v1Error(w, r, "cache entry", "account", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, e)
}

func (s *API) v1CacheDelete(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	id, n, ok := s.v1Identifier(w, r, c, "account")
	if !ok {
		return
	}
	s.b.InvalidateCache(id)
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"invalidated": true, "account": n})
}

// ---- configuration

func (s *API) v1Config(w http.ResponseWriter, r *http.Request, _ *v1Ctx) {
	cfg, err := s.console.EffectiveConfig()
	if err != nil {
		s.v1Error(w, r, "configuration", "", err)
		return
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"config": cfg})
}

func (s *API) v1ConfigReload(w http.ResponseWriter, r *http.Request, _ *v1Ctx) {
	rep, err := s.console.Reload()
	if err != nil {
		if errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrNotAllowed) {
			s.v1Error(w, r, "reload", "", err)
			return
		}
		httpio.WriteProblem(w, r, http.StatusUnprocessableEntity, httpio.ProblemReloadFailed, err.Error())
		return
	}
	if rep.Applied == nil {
		rep.Applied = []string{}
	}
	if rep.RestartRequired == nil {
		rep.RestartRequired = []string{}
	}
	httpio.WriteJSON(w, http.StatusOK, rep)
}

// ---- events and history

// eventFilter reads kind (comma-separated) and account.
func (s *API) eventFilter(q httpio.Query) (func(*events.Event) bool, error) {
	var kinds []string
	if v, ok := q["kind"]; ok {
		for k := range strings.SplitSeq(v, ",") {
			if !slices.Contains(events.EventKinds, k) {
				return nil, &httpio.ParamError{Param: "kind", Msg: fmt.Sprintf("%q is not one of %s", k, strings.Join(events.EventKinds, ", "))}
			}
			kinds = append(kinds, k)
		}
	}
	acct, _, err := q.Optional("account", httpio.MaxIdentifierLen)
	if err != nil {
		return nil, err
	}
	if acct != "" {
		acct = s.console.Normalize(acct)
	}
	if len(kinds) == 0 && acct == "" {
		return nil, nil
	}
	return func(e *events.Event) bool {
		return (len(kinds) == 0 || slices.Contains(kinds, e.Kind)) && (acct == "" || e.Account == acct)
	}, nil
}

// eventQuery reads what the event list and the stream share: the filter
// and "after".
func (s *API) eventQuery(q httpio.Query) (match func(*events.Event) bool, after uint64, err error) {
	if match, err = s.eventFilter(q); err != nil {
		return nil, 0, err
	}
	after, err = q.Seq("after")
	return match, after, err
}

func (s *API) v1Events(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	match, after, err := s.eventQuery(c.q)
	if err != nil {
		s.v1ParamError(w, r, err)
		return
	}
	limit, err := c.q.IntParam("limit", 100, 1, 1000)
	if err != nil {
		s.v1ParamError(w, r, err)
		return
	}
	var evs []events.Event
	var last uint64
	if _, given := c.q["after"]; given {
		evs, last = s.events.Since(after, limit, match)
	} else {
		// The latest limit events: walk the whole ring, keep the tail.
		evs, last = s.events.Since(0, math.MaxInt, match)
		if len(evs) > limit {
			evs = evs[len(evs)-limit:]
		}
	}
	if evs == nil {
		evs = []events.Event{}
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"events": evs, "last_seq": last})
}

func (s *API) v1History(w http.ResponseWriter, r *http.Request, c *v1Ctx) {
	minutes, err := c.q.IntParam("minutes", 60, 1, events.HistoryMinutes)
	if err != nil {
		s.v1ParamError(w, r, err)
		return
	}
	pts := s.history.Since(s.now().Add(-time.Duration(minutes) * time.Minute))
	if pts == nil {
		pts = []events.HistoryPoint{}
	}
	httpio.WriteJSON(w, http.StatusOK, map[string]any{"step_seconds": 60, "points": pts})
}
