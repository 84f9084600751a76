package config

import (
	"github.com/switchyard-mail/switchyard/config/source"
	"github.com/switchyard-mail/switchyard/config/units"
)

// Duration and Size are the configuration's value types (package units);
// FieldError is one problem with one key (package source). The aliases
// keep config.Duration, config.Size and config.FieldError for importers.
type (
	Duration   = units.Duration
	Size       = units.Size
	FieldError = source.FieldError
)

// ParseDuration reads a Duration ("30s", "7d"; a bare number is refused).
func ParseDuration(s string) (Duration, error) { return units.ParseDuration(s) }

// ParseSize reads a Size ("64KiB", 65536).
func ParseSize(s string) (Size, error) { return units.ParseSize(s) }
