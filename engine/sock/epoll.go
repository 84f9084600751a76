package sock

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// readEvents and writeEvents are what gnet's default epoll poller registers
// (netpoll.ReadEvents, netpoll.WriteEvents), level-triggered.
const (
	readEvents  = unix.EPOLLIN | unix.EPOLLPRI
	writeEvents = unix.EPOLLOUT
)

// PollerFD returns the epoll descriptor of a gnet event loop.
func PollerFD(el gnet.EventLoop) (int, error) {
	v := reflect.ValueOf(el)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return -1, errors.New("event loop is not a pointer")
	}
	v = v.Elem()
	if v.Kind() != reflect.Struct {
		return -1, errors.New("event loop is not a struct")
	}
	p := v.FieldByName("poller")
	if !p.IsValid() || p.Kind() != reflect.Pointer || p.IsNil() {
		return -1, fmt.Errorf("no poller in %s", v.Type())
	}
	fd := p.Elem().FieldByName("fd")
	if !fd.IsValid() || fd.Kind() != reflect.Int {
		return -1, fmt.Errorf("no epoll descriptor in %s", p.Elem().Type())
	}
	n := int(fd.Int())
	// It must be an epoll instance (a layout that moved would read some
	// other integer).
	if link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(n)); err != nil || link != "anon_inode:[eventpoll]" {
		return -1, fmt.Errorf("descriptor %d is not an epoll instance (%q, %v)", n, link, err)
	}
	return n, nil
}

// SetInterest sets fd's events in the epoll set epfd: reading or not,
// writing while output waits.
func SetInterest(epfd, fd int, read, write bool) {
	var ev uint32
	if read {
		ev = readEvents
	}
	if write {
		ev |= writeEvents
	}
	_ = unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: ev, Fd: int32(fd)})
}
