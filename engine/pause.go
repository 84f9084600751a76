package engine

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/engine/sock"
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
// version's layout at start (sock.PollerFD). gnet itself re-enables reading
// when it flushes a connection's output (ModRead); a paused connection
// that is read anyway keeps what arrived (bounded by its input cap) and is
// paused again at once.

// SetReading turns reading of gc on or off in the loop's epoll set. The
// write interest follows gnet's rule: on while gnet holds output for gc.
func (l *loop) SetReading(gc gnet.Conn, on bool) {
	if l.epfd < 0 {
		return // no pausing: the input and output caps still bound memory
	}
	sock.SetInterest(l.epfd, gc.Fd(), on, gc.OutboundBuffered() > 0)
}
