package config

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"

	"github.com/pelletier/go-toml/v2"

	"github.com/switchyard-mail/switchyard/internal/redact"
)

// Redacted returns a copy of c fit to show: the admin, viewer and metrics
// tokens masked, and the passwords of the store URLs (files holding
// secrets are named, never read).
func (c *Config) Redacted() *Config {
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

// MarshalRedacted renders Redacted() as TOML: every key with its value
// in force (defaults filled, flags and environment applied), in the
// schema's order.
func (c *Config) MarshalRedacted() ([]byte, error) {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.SetIndentTables(false)
	if err := enc.Encode(c.Redacted()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// InitFile is the name of the file switchyard init writes in its
// directory.
const InitFile = "switchyard.toml"

// PathOrInit is the configuration file to read: path, or, when path is
// named but does not exist and initDir is set ($SWITCHYARD_INIT_DIR: a
// container's first start), initDir/switchyard.toml. init reports that
// the second was chosen (its caller writes it when missing). No path
// means no file (a deployment from flags alone): nothing is chosen.
func PathOrInit(path, initDir string) (file string, init bool) {
	if initDir == "" || path == "" {
		return path, false
	}
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return path, false
	}
	return filepath.Join(initDir, InitFile), true
}
