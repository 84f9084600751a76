package units

import (
	"fmt"
	"strconv"
	"strings"
)

// Size is a number of bytes. In the file it is an integer (65536) or a
// string with a binary unit: "512B", "64KiB", "1MiB", "1GiB" ("K", "KB",
// "M", "MB", "G" and "GB" are read as the same powers of 1024).
type Size int64

// UnmarshalText implements encoding.TextUnmarshaler for the string form;
// integers are decoded directly.
func (s *Size) UnmarshalText(b []byte) error { return unmarshal(s, b, ParseSize) }

// ParseSize reads a Size from its string form.
func ParseSize(str string) (Size, error) {
	t := strings.TrimSpace(str)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	var mult int64
	switch strings.ToUpper(unit) {
	case "", "B":
		mult = 1
	case "K", "KB", "KIB":
		mult = 1 << 10
	case "M", "MB", "MIB":
		mult = 1 << 20
	case "G", "GB", "GIB":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (B, KiB, MiB or GiB)", str, unit)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q: want a whole number of bytes, optionally with a unit (\"64KiB\")", str)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("invalid size %q: out of range", str)
	}
	return Size(n * mult), nil
}

// unmarshal sets *dst to what parse reads in text; on error *dst is
// left as it was.
func unmarshal[T any](dst *T, text []byte, parse func(string) (T, error)) error {
	v, err := parse(string(text))
	if err != nil {
		return err
	}
	*dst = v
	return nil
}
