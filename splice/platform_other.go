//go:build !linux

package splice

func newPlatform(cfg Config) (Bridge, error) { return newPortable(cfg), nil }
