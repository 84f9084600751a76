package httpio

import (
	"encoding/json"
	"io"
	"net/http"
)

// SetBodyHeaders sets what every API body is sent with: its type, no
// caching (answers are live state) and no sniffing.
func SetBodyHeaders(h http.Header, ctype string) {
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	writeJSONAs(w, "application/json", code, v)
}

// writeJSONAs answers with v as JSON (HTML not escaped) under ctype.
func writeJSONAs(w http.ResponseWriter, ctype string, code int, v any) {
	SetBodyHeaders(w.Header(), ctype)
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func WriteText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}
