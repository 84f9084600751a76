package admin

import (
	"net/http"
	"strings"
	"testing"
)

// TestPprofNeedsTheToken: with Pprof on, the profiler is served under
// /debug/pprof/ to the token holder only; with it off it is not there.
func TestPprofNeedsTheToken(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Pprof = true; o.LockoutThreshold = 100 })
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/debug/pprof/symbol"} {
		for _, tok := range []string{"", "Bearer not-the-token"} {
			if w := h.do("GET", path, reqOpt{token: tok}); w.Code != http.StatusUnauthorized {
				t.Fatalf("GET %s with Authorization %q: %d, want 401", path, tok, w.Code)
			}
		}
	}
	h = newHarness(t, func(o *Options) { o.Pprof = true })
	w := h.do("GET", "/debug/pprof/goroutine?debug=1", reqOpt{token: "good"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "goroutine profile:") {
		t.Fatalf("goroutine profile with the token: %d %.200s", w.Code, w.Body)
	}
	if w := h.do("GET", "/debug/pprof/", reqOpt{token: "good"}); w.Code != 200 || !strings.Contains(w.Body.String(), "heap") {
		t.Fatalf("index with the token: %d", w.Code)
	}
	if w := h.do("DELETE", "/debug/pprof/heap", reqOpt{token: "good"}); w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %d", w.Code)
	}
	off := newHarness(t, nil)
	if w := off.do("GET", "/debug/pprof/goroutine?debug=1", reqOpt{token: "good"}); w.Code != http.StatusNotFound {
		t.Fatalf("pprof without Options.Pprof: %d, want 404", w.Code)
	}
}
