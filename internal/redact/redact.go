// Package redact keeps the credentials of a store URL (Redis, PostgreSQL,
// MySQL) out of error messages and logs. Libraries quote the URL, or
// pieces of it, in their parse errors (net/url does: `parse "redis://
// :pw@host:x": invalid port`), and the URL that fails to parse is the one
// an operator is about to paste into a ticket.
package redact

import (
	"errors"
	"net/url"
	"sort"
	"strings"
)

// Mask replaces each secret.
const Mask = "xxxxx"

// URL returns raw with its secrets replaced by Mask: the password of the
// userinfo ("scheme://user:password@host", or a go-sql-driver DSN
// "user:password@tcp(host)/db"), and the values of query parameters that
// carry a password ("password", "sslpassword", any key containing
// "pass"). The user name, host and the rest stay readable.
func URL(raw string) string { return String(raw, raw) }

// String returns s with every secret of the URL raw replaced by Mask, in
// the spellings it may take in s: as written in raw, and percent-decoded.
func String(s, raw string) string {
	for _, sec := range Secrets(raw) {
		s = strings.ReplaceAll(s, sec, Mask)
	}
	return s
}

// Error returns err if its message holds no secret of the URL raw, and
// otherwise a new error with the secrets masked. The new error does not
// wrap err: unwrapping it would give the secret back to whoever prints
// the cause.
func Error(err error, raw string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := String(msg, raw); clean != msg {
		return errors.New(clean)
	}
	return err
}

// Secrets returns the secrets of the URL raw, longest first (so that a
// secret holding another is masked whole), each as written and
// percent-decoded. The userinfo ends at the last '@' of the whole string,
// not at the first '/': a password holding '/', '?' or '#' makes a
// malformed URL, and malformed URLs are the ones errors quote.
func Secrets(raw string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		for _, dec := range []func(string) (string, error){url.PathUnescape, url.QueryUnescape} {
			if d, err := dec(s); err == nil && d != s && d != "" {
				out = append(out, d)
			}
		}
	}
	rest := raw
	if _, r, ok := strings.Cut(raw, "://"); ok {
		rest = r
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
			add(pw)
		}
	}
	if _, q, ok := strings.Cut(raw, "?"); ok {
		for _, pair := range strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' }) {
			if k, v, ok := strings.Cut(pair, "="); ok && secretKey(k) {
				add(v)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// secretKey: a query parameter that carries a password (pgx takes
// "password" and "sslpassword"; others spell it "pass" or "passwd").
func secretKey(k string) bool {
	if d, err := url.QueryUnescape(k); err == nil {
		k = d
	}
	k = strings.ToLower(k)
	return strings.Contains(k, "pass") || strings.Contains(k, "secret") || k == "pwd"
}
