//go:build linux

package splice

import (
	"sync"

	"golang.org/x/sys/unix"
)

var ktls struct {
	once sync.Once
	ok   bool
}

// KernelTLSAvailable reports whether the kernel offers the "tls" TCP upper
// layer protocol (kernel TLS), for a log line at start. It asks once, with
// setsockopt(TCP_ULP, "tls") on a throwaway socket: ENOENT means the ULP is
// missing; any other answer (ENOTCONN on an unconnected socket) means the
// kernel knows it.
func KernelTLSAvailable() bool {
	ktls.once.Do(func() {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err != nil {
			return
		}
		defer unix.Close(fd)
		err = unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_ULP, "tls")
		ktls.ok = err != unix.ENOENT && err != unix.ENOPROTOOPT
	})
	return ktls.ok
}
