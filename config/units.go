package config

import "github.com/switchyard-mail/switchyard/config/units"

// Duration and Size are the configuration's value types (package units);
// the aliases keep config.Duration and config.Size for importers.
type (
	Duration = units.Duration
	Size     = units.Size
)

// ParseDuration reads a Duration ("30s", "7d"; a bare number is refused).
func ParseDuration(s string) (Duration, error) { return units.ParseDuration(s) }

// ParseSize reads a Size ("64KiB", 65536).
func ParseSize(s string) (Size, error) { return units.ParseSize(s) }
