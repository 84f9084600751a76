package units

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"30s": 30 * time.Second, "10m": 10 * time.Minute, "1h": time.Hour, "250ms": 250 * time.Millisecond,
		"1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour, " 30s ": 30 * time.Second, "1h30m": 90 * time.Minute,
		"1.5s": 1500 * time.Millisecond, "0": 0, "-5s": -5 * time.Second,
	}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got.D() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                      "empty",
		"30":                    "missing unit",
		"10x":                   "invalid duration",
		"abc":                   "invalid duration",
		"1.5d":                  "whole number",
		"999999999999999999d":   "out of range",
		"99999999999999999999h": "invalid duration",
	}
	for in, want := range bad {
		if _, err := ParseDuration(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDuration(%q) = %v, want error containing %q", in, err, want)
		}
	}
}

func TestDurationString(t *testing.T) {
	for in, want := range map[time.Duration]string{
		0: "0s", 30 * time.Second: "30s", 10 * time.Minute: "10m", 2 * time.Hour: "2h",
		48 * time.Hour: "2d", 1500 * time.Millisecond: "1.5s", -time.Minute: "-1m",
	} {
		if got := Duration(in).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", in, got, want)
		}
		if back, err := ParseDuration(Duration(in).String()); err != nil || back.D() != in {
			t.Errorf("round trip of %v: %v, %v", in, back, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]Size{"0": 0, "512": 512, "512B": 512, "64KiB": 64 << 10, "64k": 64 << 10, "1 MiB": 1 << 20, "2GB": 2 << 30}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "KiB", "-1", "1TiB", "1.5MiB", "99999999999GiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}
