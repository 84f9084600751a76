package admin

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/httpio"
)

func TestImport(t *testing.T) {
	h := newHarness(t, nil)
	body := "# migrated batch 7\r\n\r\nCarol@example.com\tnew\r\n  dave@example.com   old  \n# end\n"
	w := h.do("POST", "/mappings/import", reqOpt{token: "good", body: body})
	if w.Code != 200 || decode(t, w)["imported"] != 2.0 {
		t.Fatalf("import: %d %s", w.Code, w.Body)
	}
	if h.b.mappings["carol@example.com"] != "new" || h.b.mappings["dave@example.com"] != "old" {
		t.Fatalf("backend after import: %v", h.b.mappings)
	}

	for _, tc := range []struct {
		body string
		line float64
		msg  string
	}{
		{"a@x new\nb@x\n", 2, "got 1 field"},
		{"a@x new\n\nb@x new extra\n", 3, "got 3 field"},
		{"a@x new\nb@x mars\n", 2, `unknown destination "mars"`},
		{"a@x new\nb@x old\na@x old\n", 3, `already given on line 1`},
		{"a@x new\nb\x01@x old\n", 2, "control character"},
		{"a@x new\n\xff@x old\n", 2, "UTF-8"},
		{strings.Repeat("a", httpio.MaxIdentifierLen+1) + " new\n", 1, "longer than 1024"},
	} {
		h := newHarness(t, nil)
		w := h.do("POST", "/mappings/import", reqOpt{token: "good", body: tc.body})
		if w.Code != 400 {
			t.Errorf("import %q: %d %s", tc.body, w.Code, w.Body)
			continue
		}
		m := decode(t, w)
		if m["line"] != tc.line || !strings.Contains(m["error"].(string), tc.msg) ||
			!strings.HasPrefix(m["error"].(string), fmt.Sprintf("line %d: ", int(tc.line))) {
			t.Errorf("import %q: %v, want line %v and %q", tc.body, m, tc.line, tc.msg)
		}
		if c := h.b.Calls(); len(c) != 0 {
			t.Errorf("import %q: a bad body reached the backend: %v", tc.body, c)
		}
	}

	h = newHarness(t, nil)
	if w := h.do("POST", "/mappings/import", reqOpt{token: "good", body: "# nothing\n"}); w.Code != 400 || !strings.Contains(w.Body.String(), "no ") {
		t.Fatalf("empty import: %d %s", w.Code, w.Body)
	}

	// The backend names a pair: the answer names its line.
	h.b.importErr = &backend.ItemError{Index: 1, Err: fmt.Errorf("identifier empty after normalization: %w", backend.ErrInvalid)}
	w = h.do("POST", "/mappings/import", reqOpt{token: "good", body: "# c\na@x new\n\nb@x old\n"})
	if m := decode(t, w); w.Code != 400 || m["line"] != 4.0 || !strings.HasPrefix(m["error"].(string), "line 4: identifier empty") {
		t.Fatalf("backend item error: %d %v", w.Code, m)
	}
	h.b.importErr = &backend.ItemError{Index: 0, Err: backend.ErrReadOnly}
	if w := h.do("POST", "/mappings/import", reqOpt{token: "good", body: "a@x new\n"}); w.Code != 501 {
		t.Fatalf("read-only import: %d %s", w.Code, w.Body)
	}
	h.b.importErr = errBoom
	if w := h.do("POST", "/mappings/import", reqOpt{token: "good", body: "a@x new\n"}); w.Code != 500 || !strings.Contains(w.Body.String(), "boom") {
		t.Fatalf("failed import: %d %s", w.Code, w.Body)
	}
}

func TestImportSizeLimit(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxImportBytes = 64 })
	var b strings.Builder
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "u%02d@x new\n", i) // 10 bytes a line
	}
	body := b.String()
	w := h.do("POST", "/mappings/import", reqOpt{token: "good", body: body})
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(decode(t, w)["error"].(string), "64 bytes") {
		t.Fatalf("oversized import: %d %s", w.Code, w.Body)
	}
	if c := h.b.Calls(); len(c) != 0 {
		t.Fatalf("oversized import reached the backend: %v", c)
	}
	if w := h.do("POST", "/mappings/import", reqOpt{token: "good", body: body[:60]}); w.Code != 200 {
		t.Fatalf("import under the limit: %d %s", w.Code, w.Body)
	}
}

func TestExportRoundTrip(t *testing.T) {
	h := newHarness(t, nil)
	h.b.mappings["bob@example.com"] = "old"
	w := h.do("GET", "/mappings/export", reqOpt{token: "good"})
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("export: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	want := "alice@example.com new\nbob@example.com old\n"
	if w.Body.String() != want {
		t.Fatalf("export body %q, want %q", w.Body, want)
	}
	// What export writes, import reads.
	h2 := newHarness(t, nil)
	h2.b.mappings = map[string]string{}
	if w := h2.do("POST", "/mappings/import", reqOpt{token: "good", body: want}); w.Code != 200 {
		t.Fatalf("reimport: %d %s", w.Code, w.Body)
	}
	if fmt.Sprint(h2.b.mappings) != fmt.Sprint(h.b.mappings) {
		t.Fatalf("round trip: %v vs %v", h2.b.mappings, h.b.mappings)
	}

	h.b.mappings = map[string]string{}
	if w := h.do("GET", "/mappings/export", reqOpt{token: "good"}); w.Code != 200 || w.Body.Len() != 0 {
		t.Fatalf("empty export: %d %q", w.Code, w.Body)
	}
	h.b.exportErr = errBoom
	if w := h.do("GET", "/mappings/export", reqOpt{token: "good"}); w.Code != 500 || !strings.Contains(w.Body.String(), "boom") {
		t.Fatalf("export failing before any byte: %d %s", w.Code, w.Body)
	}
}

func TestExportFailingMidStreamIsTruncated(t *testing.T) {
	h := newHarness(t, nil)
	h.b.exportErr = errBoom
	srv := httptest.NewServer(h.s.Handler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/mappings/export", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	// The client sees an error, at the header or in the body, never a
	// complete-looking file.
	resp, err := srv.Client().Do(req)
	if err == nil {
		defer resp.Body.Close()
		body, rerr := io.ReadAll(resp.Body)
		if rerr == nil {
			t.Fatalf("a failed export read as a complete file: %d %q", resp.StatusCode, body)
		}
	}
}
