package contract

import (
	"net/http"
	"strings"
	"testing"
)

const doc = `{
 "openapi": "3.1.0",
 "paths": {
  "/api/things/{id}": {"get": {"responses": {
    "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
    "404": {"$ref": "#/components/responses/Problem"}}}},
  "/api/things/count": {"get": {"responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "integer", "minimum": 0}}}}}}}
 },
 "components": {
  "schemas": {
   "Thing": {"type": "object", "additionalProperties": false, "required": ["id", "when"],
     "properties": {"id": {"type": "integer", "minimum": 1}, "when": {"type": "string", "format": "date-time"},
       "tag": {"type": ["string", "null"], "enum": ["a", "b", null]}, "tags": {"type": "array", "items": {"type": "string", "minLength": 1}},
       "extra": {"type": "object", "additionalProperties": {"type": "boolean"}},
       "either": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
   "Problem": {"type": "object", "required": ["status"], "properties": {"status": {"type": "integer"}}, "additionalProperties": false}
  },
  "responses": {"Problem": {"description": "p", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
 }
}`

func TestCheck(t *testing.T) {
	s, err := Load([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	js := http.Header{"Content-Type": {"application/json"}}
	pj := http.Header{"Content-Type": {"application/problem+json"}}
	for _, tc := range []struct {
		method, path string
		status       int
		h            http.Header
		body, err    string
	}{
		{"GET", "/api/things/7", 200, js, `{"id":7,"when":"2026-01-02T03:04:05Z","tag":null,"tags":["x"],"extra":{"a":true},"either":"s"}`, ""},
		{"HEAD", "/api/things/7/", 200, js, `{"id":7,"when":"2026-01-02T03:04:05.5+01:00","tag":"a"}`, ""},
		{"GET", "/api/things/count", 200, js, `3`, ""},
		{"GET", "/api/things/count", 200, js, `-3`, "below"},
		{"GET", "/api/things/count", 200, js, `3.5`, "not of type integer"},
		{"GET", "/api/things/7", 200, js, `{"id":7}`, `required property "when"`},
		{"GET", "/api/things/7", 200, js, `{"id":0,"when":"2026-01-02T03:04:05Z"}`, "below"},
		{"GET", "/api/things/7", 200, js, `{"id":7,"when":"yesterday"}`, "date-time"},
		{"GET", "/api/things/7", 200, js, `{"id":7,"when":"2026-01-02T03:04:05Z","tag":"c"}`, "not one of"},
		{"GET", "/api/things/7", 200, js, `{"id":7,"when":"2026-01-02T03:04:05Z","color":"red"}`, `property "color" is not allowed`},
		{"GET", "/api/things/7", 200, js, `{"id":7,"when":"2026-01-02T03:04:05Z","tags":[""]}`, "shorter"},
		{"GET", "/api/things/7", 200, js, `{"id":7,"when":"2026-01-02T03:04:05Z","extra":{"a":1}}`, "not of type boolean"},
		{"GET", "/api/things/7", 200, js, `{"id":7,"when":"2026-01-02T03:04:05Z","either":1}`, "anyOf"},
		{"GET", "/api/things/7", 200, pj, `{"status":200}`, "Content-Type"},
		{"GET", "/api/things/7", 500, js, `{}`, "not documented"},
		{"GET", "/api/things/7", 404, pj, `{"status":404}`, ""},
		{"GET", "/api/nothing", 404, pj, `{"status":404}`, ""},
		{"POST", "/api/things/7", 405, pj, `{"status":405}`, ""},
		{"POST", "/api/things/7", 200, js, `{}`, "no such operation"},
		{"GET", "/api/things/7", 200, js, `{`, "not JSON"},
	} {
		err := s.Check(tc.method, tc.path, tc.status, tc.h, []byte(tc.body))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s %s %d %s: %v", tc.method, tc.path, tc.status, tc.body, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s %s %d %s: %v, want %q", tc.method, tc.path, tc.status, tc.body, err, tc.err)
		}
	}
	if seen := s.Seen(); !seen["GET /api/things/{id}"] || !seen["GET /api/things/count"] || len(s.Operations()) != 2 {
		t.Fatalf("seen %v, operations %v", seen, s.Operations())
	}
}

func TestLoadRefusesWhatItCannotCheck(t *testing.T) {
	for _, tc := range []struct{ edit, want string }{
		{`"minimum": 1}`, ""},
		{`"minimum": 1}, "x": {"type": "string", "pattern": "^a"}`, `"pattern" is not checked`},
		{`"minimum": 1}, "y": {"$ref": "#/components/schemas/Nope"}`, "does not resolve"},
	} {
		d := strings.Replace(doc, `"minimum": 1}`, tc.edit, 1)
		_, err := Load([]byte(d))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.edit, err, tc.want)
		}
	}
	if _, err := Load([]byte(`{"openapi": "3.0.0"}`)); err == nil {
		t.Error("OpenAPI 3.0 accepted")
	}
}
