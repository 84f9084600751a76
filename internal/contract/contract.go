// Package contract checks HTTP responses against an OpenAPI 3.1 document:
// the admin API's contract tests run every /api/v1 response of the suite
// through it. It knows the subset of OpenAPI and JSON Schema that
// admin/openapi/openapi.json uses: paths with {parameters}, responses by status
// (or "default"), media types, and the keywords $ref (to
// #/components/...), type (one or a list, "null" included), properties,
// required, additionalProperties, items, enum, const, minimum, maximum,
// minLength, format "date-time" and anyOf. A keyword it does not know in
// a schema is an error, so the document cannot silently say more than is
// checked.
package contract

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Spec is a loaded OpenAPI document.
type Spec struct {
	doc   map[string]any
	paths []pathItem

	mu   sync.Mutex
	seen map[string]bool // "METHOD template" of every response checked
}

type pathItem struct {
	template string
	segs     []string
	literals int
	ops      map[string]any
}

// Load parses an OpenAPI document and checks that every schema in it
// uses only known keywords and that every $ref resolves.
func Load(data []byte) (*Spec, error) {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		return nil, fmt.Errorf("contract: openapi %q, want 3.1.x", v)
	}
	s := &Spec{doc: doc, seen: map[string]bool{}}
	paths, _ := doc["paths"].(map[string]any)
	for tpl, v := range paths {
		ops, _ := v.(map[string]any)
		pi := pathItem{template: tpl, segs: strings.Split(tpl, "/"), ops: ops}
		for _, seg := range pi.segs {
			if !strings.HasPrefix(seg, "{") {
				pi.literals++
			}
		}
		s.paths = append(s.paths, pi)
	}
	sort.Slice(s.paths, func(i, j int) bool { return s.paths[i].literals > s.paths[j].literals })
	if err := s.lint(); err != nil {
		return nil, err
	}
	return s, nil
}

// Operations lists "METHOD template" for every operation of the document.
func (s *Spec) Operations() []string {
	var out []string
	for _, p := range s.paths {
		for m := range p.ops {
			if isMethod(m) {
				out = append(out, strings.ToUpper(m)+" "+p.template)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Seen lists the operations whose responses Check has checked.
func (s *Spec) Seen() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]bool, len(s.seen))
	for k := range s.seen {
		out[k] = true
	}
	return out
}

func isMethod(m string) bool {
	return slices.Contains([]string{"get", "put", "post", "delete", "patch", "head", "options"}, m)
}

// Check validates one response: the operation exists for method and the
// escaped path, the status is documented, the media type is one the
// status declares, and a JSON body (or each event of a text/event-stream)
// matches its schema.
func (s *Spec) Check(method, escapedPath string, status int, header http.Header, body []byte) error {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if len(escapedPath) > 1 {
		escapedPath = strings.TrimRight(escapedPath, "/") // the server ignores a trailing slash
	}
	pi, op, err := s.operation(method, escapedPath)
	if err != nil {
		// A path the document lacks (404) or a method a path lacks (405)
		// has no operation: such answers must be problem documents.
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed && pi.template != "" {
			return s.checkProblem(status, header, body)
		}
		return err
	}
	s.mu.Lock()
	s.seen[method+" "+pi.template] = true
	s.mu.Unlock()
	where := fmt.Sprintf("%s %s -> %d", method, pi.template, status)
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[fmt.Sprint(status)]
	if !ok {
		if resp, ok = responses["default"]; !ok {
			return fmt.Errorf("%s: status %d is not documented", where, status)
		}
	}
	rm, err := s.deref(resp)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	content, _ := rm["content"].(map[string]any)
	ct := header.Get("Content-Type")
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(strings.ToLower(mt))
	if len(content) == 0 {
		if len(body) > 0 {
			return fmt.Errorf("%s: a body (%s) where the document declares none", where, ct)
		}
		return nil
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		var want []string
		for k := range content {
			want = append(want, k)
		}
		sort.Strings(want)
		return fmt.Errorf("%s: Content-Type %q, the document declares %s", where, ct, strings.Join(want, ", "))
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		var v any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%s: body is not JSON: %v", where, err)
		}
		if err := s.validate(media["schema"], v, "$"); err != nil {
			return fmt.Errorf("%s: %w\nbody: %s", where, err, clip(body))
		}
	case mt == "text/event-stream":
		sch, ok := media["x-event-schema"]
		if !ok {
			return nil
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var v any
			dec := json.NewDecoder(strings.NewReader(data))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return fmt.Errorf("%s: event data is not JSON: %v", where, err)
			}
			if err := s.validate(sch, v, "$event"); err != nil {
				return fmt.Errorf("%s: %w\nevent: %s", where, err, data)
			}
		}
	}
	return nil
}

// checkProblem validates an answer that has no operation against
// #/components/schemas/Problem.
func (s *Spec) checkProblem(status int, header http.Header, body []byte) error {
	if mt, _, _ := strings.Cut(header.Get("Content-Type"), ";"); mt != "application/problem+json" {
		return fmt.Errorf("status %d without an operation: Content-Type %q, want application/problem+json", status, header.Get("Content-Type"))
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("status %d: body is not JSON: %v", status, err)
	}
	return s.validate(map[string]any{"$ref": "#/components/schemas/Problem"}, v, "$")
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}

// operation finds the path item and operation for an escaped path: the
// template with the most literal segments that fits wins.
func (s *Spec) operation(method, escaped string) (pathItem, map[string]any, error) {
	segs := strings.Split(escaped, "/")
	for _, p := range s.paths {
		if len(p.segs) != len(segs) {
			continue
		}
		fits := true
		for i, seg := range p.segs {
			if !strings.HasPrefix(seg, "{") && seg != segs[i] {
				fits = false
				break
			}
		}
		if !fits {
			continue
		}
		op, ok := p.ops[strings.ToLower(method)].(map[string]any)
		if !ok {
			return p, nil, fmt.Errorf("%s %s: no such operation in the document", method, p.template)
		}
		return p, op, nil
	}
	return pathItem{}, nil, fmt.Errorf("%s %s: no path of the document fits", method, escaped)
}

// deref follows a $ref (to #/components/...) until a map.
func (s *Spec) deref(v any) (map[string]any, error) {
	for range 16 {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("not an object: %v", v)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, nil
		}
		t, err := s.resolve(ref)
		if err != nil {
			return nil, err
		}
		v = t
	}
	return nil, errors.New("$ref chain too long")
}

func (s *Spec) resolve(ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only local references are supported", ref)
	}
	var cur any = s.doc
	for part := range strings.SplitSeq(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
	}
	return cur, nil
}

// knownKeywords are the schema keywords validate understands, plus
// annotations it ignores.
var knownKeywords = map[string]bool{
	"$ref": true, "type": true, "properties": true, "required": true, "additionalProperties": true,
	"items": true, "enum": true, "const": true, "minimum": true, "maximum": true, "minLength": true,
	"format": true, "anyOf": true,
	// annotations
	"description": true, "title": true, "examples": true, "example": true, "default": true, "deprecated": true,
}

func (s *Spec) validate(schema any, v any, at string) error {
	if schema == nil {
		return nil
	}
	m, ok := schema.(map[string]any)
	if !ok {
		if b, ok := schema.(bool); ok {
			if !b {
				return fmt.Errorf("%s: no value allowed", at)
			}
			return nil
		}
		return fmt.Errorf("%s: schema is not an object", at)
	}
	if ref, ok := m["$ref"].(string); ok {
		t, err := s.resolve(ref)
		if err != nil {
			return err
		}
		if err := s.validate(t, v, at); err != nil {
			return err
		}
	}
	if any, ok := m["anyOf"].([]any); ok {
		var errs []string
		matched := false
		for _, alt := range any {
			if err := s.validate(alt, v, at); err == nil {
				matched = true
				break
			} else {
				errs = append(errs, err.Error())
			}
		}
		if !matched {
			return fmt.Errorf("%s: matches no alternative of anyOf (%s)", at, strings.Join(errs, "; "))
		}
	}
	if t, ok := m["type"]; ok {
		var types []string
		switch tt := t.(type) {
		case string:
			types = []string{tt}
		case []any:
			for _, x := range tt {
				types = append(types, fmt.Sprint(x))
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return hasType(v, t) }) {
			return fmt.Errorf("%s: %s is not of type %s", at, describe(v), strings.Join(types, " or "))
		}
	}
	if e, ok := m["enum"].([]any); ok {
		if !slices.ContainsFunc(e, func(x any) bool { return equal(x, v) }) {
			return fmt.Errorf("%s: %s is not one of %v", at, describe(v), e)
		}
	}
	if c, ok := m["const"]; ok && !equal(c, v) {
		return fmt.Errorf("%s: %s is not %v", at, describe(v), c)
	}
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		if min, ok := m["minimum"].(float64); ok && f < min {
			return fmt.Errorf("%s: %v is below %v", at, n, min)
		}
		if max, ok := m["maximum"].(float64); ok && f > max {
			return fmt.Errorf("%s: %v is above %v", at, n, max)
		}
	}
	if str, ok := v.(string); ok {
		if ml, ok := m["minLength"].(float64); ok && float64(len([]rune(str))) < ml {
			return fmt.Errorf("%s: %q is shorter than %v", at, str, ml)
		}
		if m["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %q is not an RFC 3339 date-time", at, str)
			}
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := m["properties"].(map[string]any)
		if req, ok := m["required"].([]any); ok {
			for _, k := range req {
				if _, ok := obj[fmt.Sprint(k)]; !ok {
					return fmt.Errorf("%s: required property %q is missing", at, k)
				}
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k]; ok {
				if err := s.validate(ps, obj[k], at+"."+k); err != nil {
					return err
				}
				continue
			}
			switch ap := m["additionalProperties"].(type) {
			case nil:
				if props != nil {
					return fmt.Errorf("%s: property %q is not in the document (set additionalProperties to allow it)", at, k)
				}
			case bool:
				if !ap {
					return fmt.Errorf("%s: property %q is not allowed", at, k)
				}
			default:
				if err := s.validate(ap, obj[k], at+"."+k); err != nil {
					return err
				}
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := m["items"]; ok {
			for i, x := range arr {
				if err := s.validate(items, x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func hasType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		if _, err := n.Int64(); err == nil {
			return true
		}
		f, err := n.Float64()
		return err == nil && f == math.Trunc(f) && !strings.ContainsAny(n.String(), ".eE")
	}
	return false
}

func equal(a, b any) bool {
	if n, ok := b.(json.Number); ok {
		f, _ := n.Float64()
		af, ok := a.(float64)
		return ok && af == f
	}
	return a == b
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprint(v)
}

// lint checks every schema of the document: known keywords only, $refs
// resolve, required properties are declared.
func (s *Spec) lint() error {
	var errs []error
	var walk func(v any, at string, schema bool)
	walk = func(v any, at string, schema bool) {
		switch x := v.(type) {
		case map[string]any:
			if schema {
				for k := range x {
					if !knownKeywords[k] && !strings.HasPrefix(k, "x-") {
						errs = append(errs, fmt.Errorf("%s: schema keyword %q is not checked by the contract validator", at, k))
					}
				}
				if ref, ok := x["$ref"].(string); ok {
					if _, err := s.resolve(ref); err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", at, err))
					}
				}
				if req, ok := x["required"].([]any); ok {
					props, _ := x["properties"].(map[string]any)
					for _, r := range req {
						if _, ok := props[fmt.Sprint(r)]; !ok {
							errs = append(errs, fmt.Errorf("%s: required %q is not among the properties", at, r))
						}
					}
				}
				for k, sub := range x {
					switch k {
					case "properties":
						if pm, ok := sub.(map[string]any); ok {
							for pk, pv := range pm {
								walk(pv, at+".properties."+pk, true)
							}
						}
					case "items", "additionalProperties":
						if _, ok := sub.(map[string]any); ok {
							walk(sub, at+"."+k, true)
						}
					case "anyOf":
						if arr, ok := sub.([]any); ok {
							for i, alt := range arr {
								walk(alt, fmt.Sprintf("%s.anyOf[%d]", at, i), true)
							}
						}
					}
				}
				return
			}
			for k, sub := range x {
				isSchema := k == "schema" || k == "x-event-schema" || strings.HasSuffix(at, ".components.schemas")
				walk(sub, at+"."+k, isSchema)
			}
		case []any:
			for i, sub := range x {
				walk(sub, fmt.Sprintf("%s[%d]", at, i), false)
			}
		}
	}
	walk(s.doc, "$", false)
	// Every $ref anywhere (responses, parameters) must resolve too.
	var refs func(v any, at string)
	refs = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if _, err := s.resolve(ref); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", at, err))
				}
			}
			for k, sub := range x {
				refs(sub, at+"."+k)
			}
		case []any:
			for i, sub := range x {
				refs(sub, fmt.Sprintf("%s[%d]", at, i))
			}
		}
	}
	refs(s.doc, "$")
	return errors.Join(errs...)
}
