package admin

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"
)

// pprofPrefix is where Options.Pprof serves Go's profiler. Profiles show
// memory contents (tokens, passwords in flight): the bearer token guards
// them like every other endpoint.
const pprofPrefix = "/debug/pprof/"

// servePprof serves an authorized request under pprofPrefix.
func servePprof(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, pprofPrefix)
	allow, ok := "GET, HEAD", r.Method == http.MethodGet || r.Method == http.MethodHead
	if name == "symbol" {
		allow, ok = "GET, HEAD, POST", ok || r.Method == http.MethodPost
	}
	if !ok {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow), "")
		return
	}
	switch name {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r) // the index, and every named profile (heap, goroutine, ...)
	}
}
