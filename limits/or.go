package limits

// Or returns v when it is positive and def otherwise: a zero (unset) or
// negative option takes its limit's default. It is the one way the
// packages that take options apply the defaults named here; a zero-only
// test is cmp.Or.
func Or[T ~int | ~int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
