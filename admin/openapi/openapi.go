// Package openapi holds the OpenAPI 3.1 document of the admin listener's
// /api/v1, written by hand and kept in this one file; the admin tests check
// it against the routes and every response the test suite produces.
package openapi

import _ "embed"

//go:embed openapi.json
var document []byte

// Document returns the OpenAPI document of /api/v1.
func Document() []byte { return document }
