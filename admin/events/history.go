package events

import (
	"sync"
	"time"
)

// HistoryMinutes is how many per-minute points a History keeps (24 h).
const HistoryMinutes = 24 * 60

// HistoryPoint is one minute of traffic.
type HistoryPoint struct {
	// Time is the start of the minute.
	Time time.Time `json:"time"`
	// Logins counts login outcomes during the minute (success, failure,
	// backend_failure, no_route, tempfail, bad_input).
	Logins map[string]uint64 `json:"logins"`
	// Sessions counts the live sessions at the end of the minute, by
	// destination then protocol ("" destination: not routed yet).
	Sessions map[string]map[string]int `json:"sessions"`
	// BytesIn and BytesOut were relayed during the minute, client to
	// backend and back.
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
}

// History keeps the last HistoryMinutes points in memory. The backend
// records one point a minute; GET /api/v1/history reads them.
type History struct {
	mu     sync.Mutex
	points []HistoryPoint // ring
	start  int            // index of the oldest
	n      int
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{points: make([]HistoryPoint, HistoryMinutes)} }

// Record appends p (the oldest point goes when the ring is full).
func (h *History) Record(p HistoryPoint) {
	if p.Logins == nil {
		p.Logins = map[string]uint64{}
	}
	if p.Sessions == nil {
		p.Sessions = map[string]map[string]int{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n < len(h.points) {
		h.points[(h.start+h.n)%len(h.points)] = p
		h.n++
		return
	}
	h.points[h.start] = p
	h.start = (h.start + 1) % len(h.points)
}

// Since returns the points whose minute starts at or after t, oldest
// first.
func (h *History) Since(t time.Time) []HistoryPoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []HistoryPoint
	for i := 0; i < h.n; i++ {
		p := h.points[(h.start+i)%len(h.points)]
		if !p.Time.Before(t) {
			out = append(out, p)
		}
	}
	return out
}
