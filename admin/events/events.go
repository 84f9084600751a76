package events

import (
	"sync"
	"time"
)

// Event kinds in the activity log.
const (
	EventLogin       = "login"       // a login's outcome (Outcome)
	EventKick        = "kick"        // a session kicked
	EventFlip        = "flip"        // a mapping written or removed (From, Destination)
	EventImport      = "import"      // a bulk import (Count)
	EventHold        = "hold"        // an account's logins held (Reason: the hold's end) or released
	EventCutover     = "cutover"     // a cut-over began (Outcome "started") or ended ("done", "failed")
	EventReload      = "reload"      // a configuration reload (Outcome ok or failed)
	EventBreaker     = "breaker"     // a circuit opened or closed (Outcome open, closed)
	EventDrain       = "drain"       // the process started draining, or a destination was drained
	EventMaintenance = "maintenance" // a destination's maintenance switch (Outcome on, off)
	EventReset       = "reset"       // a destination's breaker closed by hand
	EventCache       = "cache"       // the routing cache invalidated by hand
)

// EventKinds lists every kind, for filters.
var EventKinds = []string{EventLogin, EventKick, EventFlip, EventImport, EventHold, EventCutover, EventReload,
	EventBreaker, EventDrain, EventMaintenance, EventReset, EventCache}

// Event is one entry of the activity log. It never holds a secret.
type Event struct {
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"`
	Account     string    `json:"account,omitempty"`
	Session     uint64    `json:"session,omitempty"`
	Protocol    string    `json:"protocol,omitempty"`
	Listener    string    `json:"listener,omitempty"`
	Client      string    `json:"client,omitempty"`
	Destination string    `json:"destination,omitempty"`
	From        string    `json:"from,omitempty"` // a flip's previous destination
	Outcome     string    `json:"outcome,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Count       int       `json:"count,omitempty"`
	// Actor says who did it: "api" (the admin API, with the client's
	// address), "bus" (another instance), "file" (the mapping file
	// changed), "signal" (SIGHUP).
	Actor string `json:"actor,omitempty"`
}

// DefaultEventLogSize is the number of events an EventLog keeps.
const DefaultEventLogSize = 4096

// EventLog is the activity log: a fixed ring of the last events, read by
// GET /api/v1/events and streamed by /api/v1/events/stream. Add is on the
// login path: it takes a mutex for a copy into the ring and allocates
// nothing (a waiting stream is woken by closing a channel).
type EventLog struct {
	mu   sync.Mutex
	buf  []Event
	next uint64        // Seq of the next event; the first is 1
	wake chan struct{} // closed by the next Add; nil when nobody waits
}

// NewEventLog keeps the last size events (DefaultEventLogSize when size
// is not positive).
func NewEventLog(size int) *EventLog {
	if size <= 0 {
		size = DefaultEventLogSize
	}
	return &EventLog{buf: make([]Event, size), next: 1}
}

// Add appends e, giving it the next sequence number (and the time now
// when e.Time is zero).
func (l *EventLog) Add(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	l.mu.Lock()
	e.Seq = l.next
	l.buf[(l.next-1)%uint64(len(l.buf))] = e
	l.next++
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
	l.mu.Unlock()
}

// Since returns, oldest first, at most max events after seq after that
// match (nil matches all), and the last sequence number given so far
// (0 before the first event). Events older than the ring are gone: the
// first one returned may be later than after+1.
func (l *EventLog) Since(after uint64, max int, match func(*Event) bool) (events []Event, last uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last = l.next - 1
	first := uint64(1)
	if n := uint64(len(l.buf)); last > n {
		first = last - n + 1
	}
	if after+1 > first {
		first = after + 1
	}
	for seq := first; seq <= last && len(events) < max; seq++ {
		e := &l.buf[(seq-1)%uint64(len(l.buf))]
		if match == nil || match(e) {
			events = append(events, *e)
		}
	}
	return events, last
}

// Last is the last sequence number given (0 before the first event).
func (l *EventLog) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next - 1
}

// Wait returns a channel closed once an event after seq exists (at once
// when there is one already).
func (l *EventLog) Wait(after uint64) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next-1 > after {
		return closedChan
	}
	if l.wake == nil {
		l.wake = make(chan struct{})
	}
	return l.wake
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()
