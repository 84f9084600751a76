package units

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a span of time written in the configuration as a string with a
// unit: "250ms", "30s", "10m", "1h", "1d", or any combination Go's
// time.ParseDuration accepts ("1h30m", "1.5s"). A bare number is rejected:
// the unit is never guessed. "d" stands for 24 hours and may only be used on
// its own ("7d").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String renders d in the form ParseDuration reads back, preferring whole
// days, hours, minutes or seconds ("10m" rather than "10m0s").
func (d Duration) String() string {
	v := time.Duration(d)
	switch {
	case v == 0:
		return "0s"
	case v%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	case v%time.Hour == 0:
		return strconv.FormatInt(int64(v/time.Hour), 10) + "h"
	case v%time.Minute == 0:
		return strconv.FormatInt(int64(v/time.Minute), 10) + "m"
	case v%time.Second == 0:
		return strconv.FormatInt(int64(v/time.Second), 10) + "s"
	}
	return v.String()
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error { return unmarshal(d, b, ParseDuration) }

// ParseDuration reads a Duration (see the type's documentation).
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: days must be a whole number (\"7d\")", s)
		}
		const max = int64(1<<63-1) / int64(24*time.Hour)
		if n > max || n < -max {
			return 0, fmt.Errorf("invalid duration %q: out of range", s)
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		return 0, fmt.Errorf("invalid duration %q: missing unit (ms, s, m, h or d)", s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit such as \"30s\", \"10m\", \"1h\"", s)
	}
	return Duration(v), nil
}
