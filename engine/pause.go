package engine

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Backpressure through gnet. gnet v2.9.4 reads every readable connection
// and buffers whatever its handler does not take, and it has no call to
// stop reading one (upstream issues #712 and #722). A connection whose peer
// does not read would make the proxy buffer without bound. So the engine
// pauses a source itself: it changes that descriptor's interest in the
// loop's own epoll set (EPOLL_CTL_MOD without EPOLLIN), and restores it
// when the destination has drained. The descriptor of the loop's epoll
// instance is a private field of gnet's poller; it is read once per loop,
// by reflection (no unsafe), and the read is checked against the pinned
// version's layout at start (pollerFD). gnet itself re-enables reading
// when it flushes a connection's output (ModRead); a paused connection
// that is read anyway keeps what arrived (bounded by its input cap) and is
// paused again at once.

// readEvents and writeEvents are what gnet's default epoll poller registers
// (netpoll.ReadEvents, netpoll.WriteEvents), level-triggered.
const (
	readEvents  = unix.EPOLLIN | unix.EPOLLPRI
	writeEvents = unix.EPOLLOUT
)

// pollerFD returns the epoll descriptor of a gnet event loop.
func pollerFD(el gnet.EventLoop) (int, error) {
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

// setReading turns reading of gc on or off in the loop's epoll set. The
// write interest follows gnet's rule: on while gnet holds output for gc.
func (l *loop) setReading(gc gnet.Conn, on bool) {
	if l.epfd < 0 {
		return // no pausing: the input and output caps still bound memory
	}
	var ev uint32
	if on {
		ev = readEvents
	}
	if gc.OutboundBuffered() > 0 {
		ev |= writeEvents
	}
	fd := gc.Fd()
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: ev, Fd: int32(fd)})
}
