package admin

import _ "embed"

// openAPISpec is the OpenAPI 3.1 document of /api/v1, written by hand and
// kept in this one file; TestOpenAPI* check it against the routes and
// every response the test suite produces.
//
//go:embed openapi.json
var openAPISpec []byte

// OpenAPI returns the OpenAPI document of /api/v1.
func OpenAPI() []byte { return openAPISpec }
