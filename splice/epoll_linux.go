//go:build linux

package splice

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/limits"
)

// turnBudget bounds the reads one direction does per turn of its loop, so a
// busy session cannot starve the others; a session that used it up runs again
// on the next turn without waiting for an event.
const turnBudget = limits.TurnBudget

const spliceFlags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK

func newPlatform(cfg Config) (Bridge, error) { return newEpoll(cfg) }

// epBridge is the Linux bridge: Loops epoll loops on locked OS threads.
type epBridge struct {
	cfg      Config
	reg      registry
	loops    []*loop
	next     atomic.Uint32
	wg       sync.WaitGroup
	copyBufs *bufPool // plaintext copy past the pipe cap
	tlsBufs  *bufPool // directions with a TLS leg

	pipeSize  int
	maxPipes  int64 // 0: never splice
	keepPipes int   // free pipes a loop keeps before closing returned ones

	pipes         atomic.Int64 // pipes open now
	pipesMade     atomic.Int64
	pipeSizeFails atomic.Int64 // F_SETPIPE_SZ refused (fs.pipe-user-pages-soft reached)
	copyFallbacks atomic.Int64 // reads done through a buffer because no pipe was free
	maxPipesSeen  atomic.Int64
	added         atomic.Int64 // sessions registered in a loop so far
}

func newEpoll(cfg Config) (*epBridge, error) {
	b := &epBridge{
		cfg:      cfg,
		reg:      newRegistry(),
		copyBufs: newBufPool(cfg.CopyBufferSize),
		tlsBufs:  newBufPool(max(cfg.CopyBufferSize, limits.TLSBufferSize)),
		pipeSize: cfg.PipeSize,
	}
	if limit := readProcInt("/proc/sys/fs/pipe-max-size"); limit > 0 && b.pipeSize > limit {
		b.pipeSize = limit
	}
	switch {
	case cfg.MaxPipes < 0:
		b.maxPipes = 0
	case cfg.MaxPipes > 0:
		b.maxPipes = int64(cfg.MaxPipes)
	default:
		b.maxPipes = defaultMaxPipes(b.pipeSize)
	}
	b.keepPipes = max(1, int(b.maxPipes)/cfg.Loops)
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(b)
		if err != nil {
			b.stopLoops()
			return nil, err
		}
		b.loops = append(b.loops, l)
	}
	cfg.FDs.Acquire(fdbudget.Base, 2*len(b.loops)) // each loop's epoll and eventfd
	return b, nil
}

// defaultMaxPipes fits the pipes under fs.pipe-user-pages-soft, which applies
// per user to processes without CAP_SYS_RESOURCE or CAP_SYS_ADMIN: past it
// new pipes get two slots and F_SETPIPE_SZ fails. A quarter of the budget is
// left to the other processes of the same user.
func defaultMaxPipes(pipeSize int) int64 {
	const unlimited = limits.MaxPipes
	soft := readProcInt("/proc/sys/fs/pipe-user-pages-soft")
	if soft <= 0 || privilegedForPipes() {
		return unlimited
	}
	n := int64(soft) * int64(os.Getpagesize()) * 3 / 4 / int64(pipeSize)
	return min(max(n, 1), unlimited)
}

// privilegedForPipes reports whether CAP_SYS_ADMIN (21) or
// CAP_SYS_RESOURCE (24) is effective, which lifts the pipe page limits.
func privilegedForPipes() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<21|1<<24) != 0
		}
	}
	return false
}

func readProcInt(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0
	}
	return n
}

func (b *epBridge) Start(client, backend Leg, info Info, onEnd func(Info, Stats)) (*Session, error) {
	if err := checkLegs(client, backend); err != nil {
		closeLegs(client, backend)
		return nil, err
	}
	s := &epSession{onEnd: onEnd}
	s.Session.info = info
	s.Session.started = time.Now()
	s.Session.closer = s
	// The loop is chosen before the session is listed: Sessions() hands
	// it to the admin API, whose Close reads s.l.
	l := b.loops[int(b.next.Add(1))%len(b.loops)]
	s.l = l
	if !b.reg.add(&s.Session) {
		closeLegs(client, backend)
		return nil, ErrClosed
	}
	s.client = end{s: s, fd: client.FD, tls: client.TLS, tr: client.Transport, client: true}
	s.backend = end{s: s, fd: backend.FD, tls: backend.TLS, tr: backend.Transport}
	for _, e := range []*end{&s.client, &s.backend} {
		if e.tr != nil {
			e.tr.UseFD(e.fd)
		}
	}
	plain := client.TLS == nil && backend.TLS == nil && b.maxPipes > 0
	s.c2b = dir{src: &s.client, dst: &s.backend, prelude: backend.Prelude, count: &s.Session.c2b, splice: plain}
	s.b2c = dir{src: &s.backend, dst: &s.client, prelude: client.Prelude, count: &s.Session.b2c, splice: plain}
	l.mu.Lock()
	l.incoming = append(l.incoming, s)
	l.mu.Unlock()
	l.wake()
	return &s.Session, nil
}

func (b *epBridge) Sessions() []*Session { return b.reg.list() }

func (b *epBridge) Shutdown(ctx context.Context) error {
	err := b.reg.shutdown(ctx)
	b.stopLoops()
	return err
}

// stopLoops tells every loop to stop and waits until they have.
func (b *epBridge) stopLoops() {
	for _, l := range b.loops {
		l.mu.Lock()
		l.stop = true
		l.mu.Unlock()
		l.wake()
	}
	b.wg.Wait()
}

func (b *epBridge) reservePipe() bool {
	for {
		n := b.pipes.Load()
		if n >= b.maxPipes {
			return false
		}
		if b.pipes.CompareAndSwap(n, n+1) {
			for {
				m := b.maxPipesSeen.Load()
				if n+1 <= m || b.maxPipesSeen.CompareAndSwap(m, n+1) {
					return true
				}
			}
		}
	}
}

// pipe is a pooled pipe: r and w are its ends.
type pipe struct{ r, w int }

// end is one leg of a session, as the loop sees it.
type end struct {
	s        *epSession
	fd       int
	tls      *tls.Conn
	tr       Transport
	client   bool
	canRead  bool // no EAGAIN since the last EPOLLIN
	hup      bool // the peer's end was reported (EPOLLRDHUP/HUP/ERR): read until EOF
	canWrite bool // no EAGAIN since the last EPOLLOUT
	notified bool // close_notify written (TLS legs)
}

// dir is one direction of a session: bytes read from src, written to dst.
// Its flags sit together, as epSession's do: a bridged session is 512
// bytes, not 576.
type dir struct {
	src, dst *end
	prelude  []byte
	count    *atomic.Int64
	p        pipe
	inPipe   int
	buf      *[]byte
	off, n   int  // buf[off:n] is still to be written to dst
	splice   bool // both legs plaintext and pipes allowed
	// bulk: a read filled a whole copy buffer, so this direction moves on
	// to splice(2). Until then it copies: a session that trades a few
	// short lines (a NOOP, a LOGOUT) never takes a pipe (HAProxy's
	// splice-auto).
	bulk    bool
	hasPipe bool
	eof     bool // src is done
	done    bool // dst was shut down for writing
}

type epSession struct {
	Session
	l             *loop
	onEnd         func(Info, Stats)
	client        end
	backend       end
	c2b, b2c      dir
	last          int64  // loop clock of the last byte moved
	kick          string // guarded by l.mu
	ended, marked bool
	clientFirst   bool // the client's end closed first (else the backend's, if any did)
	anyClosed     bool
}

// closedFirst is the end reason when both directions ended by themselves.
func (s *epSession) closedFirst() string {
	switch {
	case !s.anyClosed:
		return ""
	case s.clientFirst:
		return ReasonClientClosed
	}
	return ReasonBackendClosed
}

func (s *epSession) close(reason string) {
	l := s.l
	l.mu.Lock()
	first := s.kick == ""
	if first {
		s.kick = reason
		l.kicks = append(l.kicks, s)
	}
	l.mu.Unlock()
	if first {
		l.wake()
	}
}

// loop is one epoll loop. Everything but mu's fields and wakePending belongs
// to the loop's goroutine.
type loop struct {
	b          *epBridge
	epfd, evfd int

	mu       sync.Mutex
	incoming []*epSession
	kicks    []*epSession
	stop     bool

	wakePending atomic.Bool

	byFD  map[int32]*end
	live  map[*epSession]struct{}
	free  []pipe
	ready []*epSession
	base  time.Time
	now   int64
	tid   atomic.Int32 // the loop's OS thread, for CPU accounting in benchmarks
}

func newLoop(b *epBridge) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("splice: epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("splice: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("splice: epoll_ctl: %w", err)
	}
	l := &loop{
		b: b, epfd: epfd, evfd: evfd,
		byFD: make(map[int32]*end),
		live: make(map[*epSession]struct{}),
		base: time.Now(),
	}
	b.wg.Add(1)
	go l.run()
	return l, nil
}

func (l *loop) wake() {
	if l.wakePending.CompareAndSwap(false, true) {
		var one = [8]byte{1}
		_, _ = unix.Write(l.evfd, one[:])
	}
}

func (l *loop) clock() int64 { return int64(time.Since(l.base)) }

func (l *loop) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer l.b.wg.Done()
	l.tid.Store(int32(unix.Gettid()))
	events := make([]unix.EpollEvent, 256)
	var work, kicks, incoming []*epSession
	idle := int64(l.b.cfg.IdleTimeout)
	l.now = l.clock()
	every := int64(sweepEvery)
	nextSweep := l.now + every
	for {
		timeout := -1
		switch {
		case len(l.ready) > 0:
			timeout = 0
		case len(l.live) > 0:
			timeout = int(max(0, (nextSweep-l.now)/int64(time.Millisecond)) + 1)
		}
		n, err := unix.EpollWait(l.epfd, events, timeout)
		if err != nil && err != unix.EINTR {
			// Nothing sensible can continue on a broken epoll descriptor.
			for s := range l.live {
				l.end(s, "error: epoll_wait: "+err.Error())
			}
			n = 0
		}
		l.now = l.clock()
		work, l.ready = l.ready, work[:0]
		for _, s := range work {
			s.marked = true
		}
		woken := false
		for i := 0; i < n; i++ {
			ev := &events[i]
			if int(ev.Fd) == l.evfd {
				woken = true
				continue
			}
			e := l.byFD[ev.Fd]
			if e == nil {
				continue
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				e.canRead = true
			}
			if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				e.hup = true
			}
			if ev.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				e.canWrite = true
			}
			if !e.s.marked {
				e.s.marked = true
				work = append(work, e.s)
			}
		}
		stop := false
		if woken {
			// Drain the eventfd before clearing the flag: cleared first, a
			// wake() in between would write a count this read then eats,
			// leaving the flag set and every later wake() silent.
			var buf [8]byte
			_, _ = unix.Read(l.evfd, buf[:])
			l.wakePending.Store(false)
			l.mu.Lock()
			incoming, l.incoming = l.incoming, incoming[:0]
			kicks, l.kicks = l.kicks, kicks[:0]
			stop = l.stop
			l.mu.Unlock()
			for i, s := range incoming {
				l.add(s)
				incoming[i] = nil
			}
		}
		for i, s := range work {
			s.marked = false
			if !s.ended {
				l.runSession(s)
			}
			work[i] = nil
		}
		for i, s := range kicks {
			l.mu.Lock()
			reason := s.kick
			l.mu.Unlock()
			l.end(s, reason)
			kicks[i] = nil
		}
		kicks = kicks[:0] // not swapped again until the next wake-up
		if l.now >= nextSweep {
			nextSweep = l.now + every
			for s := range l.live {
				quiet := l.now - s.last
				if idle > 0 && quiet >= idle {
					l.end(s, ReasonIdle)
					continue
				}
				if quiet >= every {
					// A session quiet for a sweep gives back the write
					// buffers its TLS transports kept for bursts.
					for _, e := range []*end{&s.client, &s.backend} {
						if t, ok := e.tr.(interface{ Trim() }); ok {
							t.Trim()
						}
					}
				}
			}
		}
		if stop && len(l.live) == 0 {
			l.close()
			return
		}
	}
}

func (l *loop) close() {
	for _, p := range l.free {
		l.closePipe(p)
	}
	l.free = nil
	unix.Close(l.epfd)
	unix.Close(l.evfd)
}

func (l *loop) add(s *epSession) {
	l.live[s] = struct{}{}
	l.b.added.Add(1)
	s.last = l.now
	for _, e := range []*end{&s.client, &s.backend} {
		e.canRead, e.canWrite = true, true
		l.byFD[int32(e.fd)] = e
		ev := unix.EpollEvent{
			Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
			Fd:     int32(e.fd),
		}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, e.fd, &ev); err != nil {
			l.end(s, "error: epoll_ctl: "+err.Error())
			return
		}
	}
	// A TLS leg may hold decrypted or raw bytes already: run at once.
	l.runSession(s)
}

func (l *loop) runSession(s *epSession) {
	more1, reason := l.pump(s, &s.c2b)
	if reason != "" {
		l.end(s, reason)
		return
	}
	more2, reason := l.pump(s, &s.b2c)
	if reason != "" {
		l.end(s, reason)
		return
	}
	if s.c2b.done && s.b2c.done {
		l.end(s, s.closedFirst())
		return
	}
	if more1 || more2 {
		l.ready = append(l.ready, s)
	}
}

// pump moves what it can in one direction. It reports a reason to end the
// session, or whether it stopped on its budget with work left.
func (l *loop) pump(s *epSession, d *dir) (more bool, reason string) {
	if d.done {
		return false, ""
	}
	for round := 0; ; round++ {
		blocked, reason := l.deliver(s, d)
		if reason == "" && blocked && d.inPipe > 0 && d.inPipe < l.b.pipeSize && d.src.canRead && !d.eof {
			// The destination is full: top up the pipe meanwhile, so a whole
			// pipe is ready when it drains. EAGAIN here is ambiguous (pipe
			// full or socket empty): canRead stays set, and the read after
			// the pipe empties decides.
			n, err := unix.Splice(d.src.fd, nil, d.p.w, nil, l.b.pipeSize-d.inPipe, spliceFlags)
			switch {
			case n > 0:
				d.inPipe += int(n)
			case err == nil:
				l.sawEOF(s, d)
			case err != unix.EAGAIN && err != unix.EINTR:
				reason = legError(d.src.client, "read", err)
			}
		}
		if reason != "" || blocked {
			return false, reason
		}
		l.release(d)
		if d.eof {
			if d.dst.tls != nil && !d.dst.notified {
				d.dst.notified = true
				_ = d.dst.tls.CloseWrite()
				continue // deliver flushes the alert
			}
			// Pass the end on, unless the other direction ended first: then
			// the session closes both sockets now, and close sends it.
			if other := l.otherDir(s, d); !other.done {
				_ = unix.Shutdown(d.dst.fd, unix.SHUT_WR)
			}
			d.done = true
			return false, ""
		}
		if !d.src.canRead {
			return false, ""
		}
		if round >= turnBudget {
			return true, ""
		}
		if reason := l.fill(s, d); reason != "" {
			return false, reason
		}
	}
}

func (l *loop) otherDir(s *epSession, d *dir) *dir {
	if d == &s.c2b {
		return &s.b2c
	}
	return &s.c2b
}

func (l *loop) moved(s *epSession, d *dir, n int) {
	d.count.Add(int64(n))
	s.last = l.now
}

// writePlain writes b to d's destination socket as it is. It returns how
// much went, whether the socket refused the rest for now (EAGAIN), and a
// reason to end the session.
func (l *loop) writePlain(s *epSession, d *dir, b []byte) (n int, blocked bool, reason string) {
	dst := d.dst
	for n < len(b) {
		if !dst.canWrite {
			return n, true, ""
		}
		k, err := unix.Write(dst.fd, b[n:])
		if k > 0 {
			n += k
			l.moved(s, d, k)
		}
		if err != nil {
			if err == unix.EAGAIN {
				dst.canWrite = false
				return n, true, ""
			}
			if err != unix.EINTR {
				return n, false, legError(dst.client, "write", err)
			}
		}
	}
	return n, false, ""
}

// deliver writes what the direction holds (prelude, pipe, buffer, TLS
// ciphertext) to its destination. blocked means the destination refused some.
func (l *loop) deliver(s *epSession, d *dir) (blocked bool, reason string) {
	dst := d.dst
	for len(d.prelude) > 0 && dst.tls != nil {
		n, err := dst.tls.Write(d.prelude)
		l.moved(s, d, n)
		d.prelude = d.prelude[n:]
		if err != nil {
			return false, legError(dst.client, "write", err)
		}
	}
	if len(d.prelude) > 0 {
		n, blocked, reason := l.writePlain(s, d, d.prelude)
		d.prelude = d.prelude[n:]
		if blocked || reason != "" {
			return blocked, reason
		}
	}
	d.prelude = nil
	for d.inPipe > 0 {
		if !dst.canWrite {
			return true, ""
		}
		n, err := unix.Splice(d.p.r, nil, dst.fd, nil, d.inPipe, spliceFlags)
		if n > 0 {
			d.inPipe -= int(n)
			l.moved(s, d, int(n))
			continue
		}
		switch err {
		case unix.EAGAIN:
			dst.canWrite = false
			return true, ""
		case unix.EINTR:
		case nil:
			return false, legError(dst.client, "write", io.ErrNoProgress)
		default:
			return false, legError(dst.client, "write", err)
		}
	}
	if d.off < d.n {
		n, blocked, reason := l.writePlain(s, d, (*d.buf)[d.off:d.n])
		d.off += n
		if blocked || reason != "" {
			return blocked, reason
		}
	}
	if dst.tr != nil && dst.tr.PendingOut() > 0 {
		if !dst.canWrite {
			return true, ""
		}
		if err := dst.tr.FlushOut(); err != nil {
			if isWouldBlock(err) {
				dst.canWrite = false
				return true, ""
			}
			return false, legError(dst.client, "write", err)
		}
	}
	return false, ""
}

// release gives back the pipe and the buffer once they are empty, so an idle
// direction holds neither.
func (l *loop) release(d *dir) {
	if d.hasPipe && d.inPipe == 0 {
		l.putPipe(d.p)
		d.hasPipe = false
	}
	if d.buf != nil && d.off >= d.n {
		if d.src.tls != nil || d.dst.tls != nil {
			l.b.tlsBufs.put(d.buf)
		} else {
			l.b.copyBufs.put(d.buf)
		}
		d.buf, d.off, d.n = nil, 0, 0
	}
}

func (l *loop) sawEOF(s *epSession, d *dir) {
	d.eof = true
	if !s.anyClosed {
		s.anyClosed, s.clientFirst = true, d.src.client
	}
}

// fill reads from the source of an empty direction.
func (l *loop) fill(s *epSession, d *dir) (reason string) {
	src := d.src
	if d.splice && d.bulk {
		if !d.hasPipe {
			d.p, d.hasPipe = l.getPipe()
		}
		if d.hasPipe {
			n, err := unix.Splice(src.fd, nil, d.p.w, nil, l.b.pipeSize, spliceFlags)
			if n <= 0 {
				// (EAGAIN: the pipe is empty here, so it is the socket's.)
				return l.readFailed(s, d, err)
			}
			// A short splice does not mean the socket is empty: the pipe
			// may have run out of slots first (one per socket buffer, and
			// collapsed or Unix-socket buffers are small). canRead stays
			// set, and the EAGAIN of the next splice, into the pipe emptied
			// by then, says the socket is drained.
			d.inPipe += int(n)
			return ""
		}
		l.b.copyFallbacks.Add(1)
	}
	tlsDir := src.tls != nil || d.dst.tls != nil
	if d.buf == nil {
		if tlsDir {
			d.buf = l.b.tlsBufs.get()
		} else {
			d.buf = l.b.copyBufs.get()
		}
	}
	buf := *d.buf
	if src.tls != nil {
		// Gather records until the buffer is full or the socket is empty.
		for d.n < len(buf) {
			n, err := src.tls.Read(buf[d.n:])
			d.n += n // n before err: a read may return both
			if err != nil {
				if isWouldBlock(err) {
					src.canRead = false
					break
				}
				if errors.Is(err, io.EOF) {
					l.sawEOF(s, d)
					break
				}
				return legError(src.client, "read", err)
			}
			if n == 0 {
				break
			}
		}
	} else {
		room := len(buf) - d.n
		n, err := unix.Read(src.fd, buf[d.n:])
		if n <= 0 {
			return l.readFailed(s, d, err)
		}
		d.n += n
		if n < room && !src.hup {
			// A short read(2) of a stream socket emptied it: the next
			// bytes raise a new edge, so no read just to see EAGAIN. Once
			// the peer's end was reported, no edge follows: read on to
			// the EOF.
			src.canRead = false
		}
		if n == room && d.splice {
			d.bulk = true // bulk flows: splice from the next read on
		}
	}
	if dst := d.dst; dst.tls != nil && d.n > d.off {
		ck, cork := dst.tr.(Corker)
		if cork {
			ck.Cork()
		}
		n, err := dst.tls.Write(buf[d.off:d.n])
		if cork {
			ck.Uncork()
		}
		l.moved(s, d, n)
		d.off += n
		if err != nil {
			return legError(dst.client, "write", err)
		}
	}
	return ""
}

// readFailed settles a read or splice from d's source that moved nothing:
// the end of the stream, a drained socket, an interrupted call, or the
// leg's failure (a reason to end the session).
func (l *loop) readFailed(s *epSession, d *dir, err error) (reason string) {
	switch err {
	case nil:
		l.sawEOF(s, d)
	case unix.EAGAIN:
		d.src.canRead = false
	case unix.EINTR:
	default:
		return legError(d.src.client, "read", err)
	}
	return ""
}

func (l *loop) getPipe() (pipe, bool) {
	if n := len(l.free); n > 0 {
		p := l.free[n-1]
		l.free = l.free[:n-1]
		return p, true
	}
	if !l.b.reservePipe() {
		return pipe{}, false
	}
	if !l.b.cfg.FDs.TryAcquire(fdbudget.Pipe, 2) {
		l.b.pipes.Add(-1)
		return pipe{}, false
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		l.b.pipes.Add(-1)
		l.b.cfg.FDs.Release(fdbudget.Pipe, 2)
		return pipe{}, false
	}
	if _, err := unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, l.b.pipeSize); err != nil {
		// Past fs.pipe-user-pages-soft: the pipe keeps its small default
		// size. It still works, more slowly.
		l.b.pipeSizeFails.Add(1)
	}
	l.b.pipesMade.Add(1)
	return pipe{r: fds[0], w: fds[1]}, true
}

func (l *loop) putPipe(p pipe) {
	if len(l.free) >= l.b.keepPipes {
		l.closePipe(p)
		return
	}
	l.free = append(l.free, p)
}

func (l *loop) closePipe(p pipe) {
	unix.Close(p.r)
	unix.Close(p.w)
	l.b.pipes.Add(-1)
	l.b.cfg.FDs.Release(fdbudget.Pipe, 2)
}

// end finishes a session: frees its pipes and buffers, closes its sockets,
// reports it. It runs once per session.
func (l *loop) end(s *epSession, reason string) {
	if s.ended {
		return
	}
	s.ended = true
	// Unlisted before either end can see the session end: an operator who
	// kicked it, or a client that saw its socket close, no longer finds it.
	l.b.reg.remove(&s.Session)
	if reason == "" {
		reason = ReasonClientClosed
	}
	if !strings.HasPrefix(reason, "error") {
		// Best effort: tell TLS peers the stream ends on purpose.
		for _, e := range []*end{&s.client, &s.backend} {
			if e.tls != nil && !e.notified {
				e.notified = true
				_ = e.tls.CloseWrite()
				_ = e.tr.FlushOut()
			}
		}
	}
	for _, d := range []*dir{&s.c2b, &s.b2c} {
		if d.hasPipe {
			if d.inPipe > 0 {
				l.closePipe(d.p) // holds bytes nobody will read
			} else {
				l.putPipe(d.p)
			}
			d.hasPipe, d.inPipe = false, 0
		}
		d.off = d.n
		l.release(d)
		d.prelude = nil
	}
	for _, e := range []*end{&s.client, &s.backend} {
		// No EPOLL_CTL_DEL: the bridge holds the only descriptor of each
		// socket (Leg.FD), and closing it takes it out of the epoll set.
		if l.byFD[int32(e.fd)] == e {
			delete(l.byFD, int32(e.fd))
		}
		unix.Close(e.fd)
	}
	delete(l.live, s)
	if s.onEnd != nil {
		c2b, b2c := s.Bytes()
		s.onEnd(s.info, Stats{
			ClientToBackend: c2b,
			BackendToClient: b2c,
			Reason:          reason,
			Duration:        time.Since(s.started),
		})
	}
}
