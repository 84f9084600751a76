package sock

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// IsWouldBlock reports a timeout: a read with nothing to read in loop mode.
func IsWouldBlock(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// CloseFD closes fd, ignoring the error.
func CloseFD(fd int) { _ = unix.Close(fd) }

// DupCloexec duplicates fd with close-on-exec set.
func DupCloexec(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) }

// ListenerKeepAlive turns TCP keep-alive on for a listening socket: the
// first probe after 5 minutes of silence, then every minute, 5 unanswered
// ones drop the connection.
func ListenerKeepAlive(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		for _, o := range [][3]int{
			{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
			{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 300},
			{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 60},
			{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 5},
		} {
			if e := unix.SetsockoptInt(int(fd), o[0], o[1], o[2]); e != nil && serr == nil {
				serr = e
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// BindAddressNoPort is the Control of a dial bound to a source address
// (IP_BIND_ADDRESS_NO_PORT): the local port is then picked at connect(2),
// per destination, instead of at bind(2), where every destination shares
// one ephemeral range.
func BindAddressNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// IsFDExhaustion reports EMFILE or ENFILE (and ENOBUFS/ENOMEM, the same
// story for kernel memory).
func IsFDExhaustion(err error) bool {
	var se syscall.Errno
	if !errors.As(err, &se) {
		return false
	}
	return se == unix.EMFILE || se == unix.ENFILE || se == unix.ENOBUFS || se == unix.ENOMEM
}

// OpenReserve opens the descriptor kept for shedding at EMFILE.
func OpenReserve() int {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}
