package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// The operator console: static files under /ui/, embedded in the binary.
// They are public (a sign-in page has to load before the token is typed);
// every call they make goes to /api/v1 with the token in the
// Authorization header, so the console holds no secret and the browser
// sends no cookie the server would trust.

const Prefix = "/ui/"

//go:embed index.html icon.svg css js
var files embed.FS

// ContentSecurityPolicy is sent with every /ui/ response: scripts,
// styles and connections from the admin listener itself only; no inline
// script or style, no plugin, no frame around the console, no <base>, no
// form that submits anywhere (the sign-in form is handled by script: a
// native submission would put the token in a URL), and DOM sinks that
// parse HTML refused (the console builds its pages with DOM calls only).
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'"

// contentTypes are the types of the file kinds the console may hold;
// a file of another kind is not served (and the unit test fails).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".txt":  "text/plain; charset=utf-8",
}

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// assets maps a path under /ui/ ("index.html", "js/app.js") to its
// file; built once from the embedded tree.
var assets = func() map[string]*asset {
	m := map[string]*asset{}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[p] = &asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("admin: embedded console: %v", err))
	}
	return m
}()

// Assets lists the paths of the console's files under /ui/ ("" is
// index.html), for tests.
func Assets() []string {
	out := make([]string, 0, len(assets))
	for p := range assets {
		out = append(out, p)
	}
	return out
}

// Asset returns an embedded console file's content (nil when there is
// none), for tests.
func Asset(p string) []byte {
	if a := assets[p]; a != nil {
		return a.body
	}
	return nil
}

// setHeaders puts the console's security headers on a response.
func setHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
}

// serveUI answers a path under /ui/ (or /ui itself) without a token.
func Serve(w http.ResponseWriter, r *http.Request) {
	setHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/ui" {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, Prefix)
	if p == "" {
		p = "index.html"
	}
	a := assets[p]
	if a == nil || strings.Contains(p, "..") {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	// Revalidated on every load (a new binary serves new files), cheap
	// with the ETag.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// Files is the embedded tree (index.html at its root), for tests.
func Files() fs.FS { return files }
