package admin

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/admin/ui"
)

// wantUIType is the Content-Type each kind of console file must be
// served with (an ES module needs a JavaScript type under nosniff).
var wantUIType = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".txt":  "text/plain; charset=utf-8",
}

// embeddedUI lists every file under ui/ in the binary, whatever its kind.
func embeddedUI(t *testing.T) []string {
	t.Helper()
	var out []string
	err := fs.WalkDir(ui.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(out, "index.html") || len(out) < 5 {
		t.Fatalf("embedded console files: %v", out)
	}
	return out
}

func checkUIHeaders(t *testing.T, p string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
		"frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", p, csp, d)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*", "data:"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: Content-Security-Policy %q allows %q", p, csp, bad)
		}
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s %q, want %q", p, k, got, v)
		}
	}
	if h.Get("Set-Cookie") != "" {
		t.Errorf("%s: sets a cookie", p)
	}
}

// TestUIAssets: every embedded console file is served under /ui/ without
// a token, whole, with the right Content-Type and the security headers.
func TestUIAssets(t *testing.T) {
	h := newHarness(t, nil)
	for _, p := range embeddedUI(t) {
		want, ok := wantUIType[path.Ext(p)]
		if !ok {
			t.Errorf("%s: no Content-Type is known for %q files (add it to uiContentTypes and this test)", p, path.Ext(p))
			continue
		}
		for _, method := range []string{"GET", "HEAD"} {
			w := h.do(method, "/ui/"+p, reqOpt{})
			if w.Code != http.StatusOK {
				t.Errorf("%s /ui/%s: status %d", method, p, w.Code)
				continue
			}
			if got := w.Header().Get("Content-Type"); got != want {
				t.Errorf("%s /ui/%s: Content-Type %q, want %q", method, p, got, want)
			}
			checkUIHeaders(t, "/ui/"+p, w.Header())
			file, _ := fs.ReadFile(ui.Files(), p)
			if method == "GET" && !bytes.Equal(w.Body.Bytes(), file) {
				t.Errorf("GET /ui/%s: body differs from the embedded file", p)
			}
		}
	}

	// The console's entry point, a redirect to it, and what is not there.
	w := h.do("GET", "/ui/", reqOpt{})
	index, _ := fs.ReadFile(ui.Files(), "index.html")
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), index) || w.Header().Get("Content-Type") != wantUIType[".html"] {
		t.Errorf("GET /ui/: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	checkUIHeaders(t, "/ui/", w.Header())
	if w := h.do("GET", "/ui", reqOpt{}); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d Location %q", w.Code, w.Header().Get("Location"))
	}
	for _, p := range []string{"/ui/missing.js", "/ui/js/", "/ui/../server.go", "/ui/js/../../ui.go"} {
		w := h.do("GET", p, reqOpt{})
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, w.Code)
		}
		checkUIHeaders(t, p, w.Header())
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		w := h.do(m, "/ui/index.html", reqOpt{token: "good"})
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /ui/index.html: %d Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
	}
	// A revalidation with the ETag costs no body.
	etag := h.do("GET", "/ui/js/app.js", reqOpt{}).Header().Get("ETag")
	r := httptest.NewRequest("GET", "/ui/js/app.js", nil)
	r.Header.Set("If-None-Match", etag)
	rec := httptest.NewRecorder()
	h.s.Handler().ServeHTTP(rec, r)
	if etag == "" || rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match %q: status %d, want 304", etag, rec.Code)
	}
	// The API beside it still wants the token.
	if w := h.do("GET", "/api/v1/whoami", reqOpt{}); w.Code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/whoami without a token: %d", w.Code)
	}
}

// xmlNamespaces are URIs that name an XML vocabulary and are never
// fetched.
var xmlNamespaces = []string{"http://www.w3.org/2000/svg"}

var (
	absURL      = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>)]*`)
	protoRel    = regexp.MustCompile(`(?i)(?:src|href|action|poster|data)\s*=\s*["']?\s*//`)
	cssURL      = regexp.MustCompile(`(?i)(?:url\(\s*["']?|@import\s+["'])([^"')\s]*)`)
	jsImport    = regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'`)
	htmlRef     = regexp.MustCompile(`(?i)\b(?:src|href)="([^"]*)"`)
	htmlSinks   = regexp.MustCompile(`\b(?:innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\s*\(|new\s+Function\b|setTimeout\(\s*['"])`)
	inlineStyle = regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=|<style\b|\son[a-z]+\s*=|<script\b[^>]*>\s*[^<\s]`)
)

// TestUINoExternalReferences: no console file names anything outside the
// admin listener (no CDN, no font service, no analytics), every local
// reference resolves to an embedded file, and nothing relies on inline
// script or style, or on a sink that parses HTML, which the CSP refuses.
func TestUINoExternalReferences(t *testing.T) {
	files := embeddedUI(t)
	for _, p := range files {
		b, _ := fs.ReadFile(ui.Files(), p)
		if path.Ext(p) == ".png" {
			continue
		}
		s := string(b)
		for _, u := range absURL.FindAllString(s, -1) {
			if !slices.Contains(xmlNamespaces, u) {
				t.Errorf("%s references an external URL: %s", p, u)
			}
		}
		if m := protoRel.FindString(s); m != "" {
			t.Errorf("%s has a protocol-relative reference: %s", p, m)
		}
		for _, m := range cssURL.FindAllStringSubmatch(s, -1) {
			if path.Ext(p) == ".css" && !strings.HasPrefix(m[1], "data:") || strings.HasPrefix(m[1], "/") {
				t.Errorf("%s loads %q from CSS: keep styles self-contained", p, m[1])
			}
		}
		var refs []string
		switch path.Ext(p) {
		case ".js":
			for _, m := range jsImport.FindAllStringSubmatch(s, -1) {
				refs = append(refs, m[1]+m[2])
			}
			if m := htmlSinks.FindString(s); m != "" {
				t.Errorf("%s uses %q: build DOM nodes instead (the CSP requires Trusted Types)", p, m)
			}
		case ".html":
			for _, m := range htmlRef.FindAllStringSubmatch(s, -1) {
				if !strings.HasPrefix(m[1], "#") {
					refs = append(refs, m[1])
				}
			}
			if m := inlineStyle.FindString(s); m != "" {
				t.Errorf("%s has inline script or style: %q", p, m)
			}
		}
		for _, ref := range refs {
			if !strings.HasPrefix(ref, "./") && !strings.HasPrefix(ref, "../") && (strings.Contains(ref, ":") || strings.HasPrefix(ref, "/")) {
				t.Errorf("%s: reference %q is not relative to the console", p, ref)
				continue
			}
			target := path.Clean(path.Join(path.Dir(p), ref))
			if !slices.Contains(files, target) {
				t.Errorf("%s: reference %q: no embedded file %s", p, ref, target)
			}
		}
	}
}

// TestUIReferenceCheck: the checks above catch what they are for.
func TestUIReferenceCheck(t *testing.T) {
	for _, bad := range []string{`<script src="https://cdn.example/x.js">`, `fetch("http://198.51.100.1/x")`, `@import url(wss://x)`} {
		if u := absURL.FindString(bad); u == "" || slices.Contains(xmlNamespaces, u) {
			t.Errorf("%q: no external URL found", bad)
		}
	}
	if protoRel.FindString(`<img src="//cdn.example/a.png">`) == "" {
		t.Error("protocol-relative src not found")
	}
	if inlineStyle.FindString(`<div style="color:red">`) == "" || inlineStyle.FindString(`<script>alert(1)</script>`) == "" ||
		inlineStyle.FindString(`<button onclick="x()">`) == "" {
		t.Error("inline style, script or handler not found")
	}
	if inlineStyle.FindString(`<script type="module" src="js/app.js"></script>`) != "" {
		t.Error("a script with src taken for inline script")
	}
	if htmlSinks.FindString(`el.innerHTML = x`) == "" {
		t.Error("innerHTML not found")
	}
	if m := jsImport.FindAllStringSubmatch("import { h } from './dom.js';\nimport x from '../api.js';\n", -1); len(m) != 2 || m[1][1] != "../api.js" {
		t.Errorf("imports: %v", m)
	}
}
