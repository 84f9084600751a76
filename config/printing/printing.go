// Package printing renders the configuration in force for people: every
// key with its value (defaults filled, flags and environment applied) as
// TOML that reads back as the same configuration, with every secret
// masked (--print-config, as doveconf -n or nginx -T).
package printing

import (
	"bytes"
	"maps"

	"github.com/pelletier/go-toml/v2"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/internal/redact"
)

// Redacted returns a copy of c fit to show: the admin, viewer and metrics
// tokens masked, and the passwords of the store URLs (files holding
// secrets are named, never read).
func Redacted(c *config.Config) *config.Config {
	out := *c
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return redact.Mask
	}
	if c.Admin != nil {
		a := *c.Admin
		a.BearerToken, a.ViewerToken = mask(a.BearerToken), mask(a.ViewerToken)
		out.Admin = &a
	}
	if c.Metrics != nil {
		m := *c.Metrics
		m.Token = mask(m.Token)
		out.Metrics = &m
	}
	if c.Mapping.Redis != nil {
		r := *c.Mapping.Redis
		r.URL = redact.URL(r.URL)
		out.Mapping.Redis = &r
	}
	if c.Mapping.SQL != nil {
		s := *c.Mapping.SQL
		s.URL = redact.URL(s.URL)
		out.Mapping.SQL = &s
	}
	out.Mapping.DomainAliases = maps.Clone(c.Mapping.DomainAliases)
	return &out
}

// MarshalRedacted renders Redacted(c) as TOML: every key with its value
// in force (defaults filled, flags and environment applied), in the
// schema's order.
func MarshalRedacted(c *config.Config) ([]byte, error) {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.SetIndentTables(false)
	if err := enc.Encode(Redacted(c)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
