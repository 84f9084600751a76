package testnet

import (
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// DialSmallReceiveBuffer dials addr with a 4 KiB receive buffer, closed
// when the test ends: output the client does not read stays with the
// proxy instead of in the kernel, so its caps and backpressure show.
func DialSmallReceiveBuffer(t testing.TB, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) }); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
