//go:build !linux

package splice

// KernelTLSAvailable reports whether the kernel offers kernel TLS; only Linux
// is checked.
func KernelTLSAvailable() bool { return false }
