package httpio

import (
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/switchyard-mail/switchyard/admin/backend"
)

// Protocols accepted by the protocol filter, as the configuration spells them.
var Protocols = []string{"imap", "pop3", "managesieve", "submission", "smtp", "lmtp", "http"}

// Log levels accepted by PUT /log/level.
var LogLevels = []string{"debug", "info", "warn", "error"}

// StatsBody is GET /stats (and the start of GET /api/v1/stats).
type StatsBody struct {
	backend.Stats
	HitRatePct    float64 `json:"hit_rate_pct"`
	Ready         bool    `json:"ready"`
	UptimeSeconds *int64  `json:"uptime_seconds,omitempty"`
}

// NewStatsBody reads b's counters at now; UptimeSeconds is nil when b
// does not say when it started.
func NewStatsBody(b backend.Backend, now time.Time) StatsBody {
	st := b.Stats()
	if st.Refusals == nil {
		st.Refusals = map[string]uint64{}
	}
	body := StatsBody{Stats: st, Ready: b.Ready()}
	if total := st.CacheHits + st.CacheMisses; total > 0 {
		body.HitRatePct = math.Round(float64(st.CacheHits)/float64(total)*10000) / 100
	}
	if !st.Started.IsZero() {
		up := int64(now.Sub(st.Started) / time.Second)
		body.UptimeSeconds = &up
	}
	return body
}

// countingWriter remembers whether anything reached the client.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.n == 0 && len(p) > 0 {
		c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		c.w.Header().Set("Cache-Control", "no-store")
		c.w.WriteHeader(http.StatusOK)
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Export streams b's mapping file to w as text; fail answers an error that
// came before the first byte. An error after it cuts the connection, so
// the client sees a truncated transfer, not a complete-looking file.
func Export(w http.ResponseWriter, b backend.Backend, log *slog.Logger, fail func(error)) {
	cw := &countingWriter{w: w}
	err := b.ExportMappings(cw)
	switch {
	case err == nil && cw.n == 0:
		WriteText(w, http.StatusOK, "")
	case err == nil:
	case cw.n == 0:
		fail(err)
	default:
		log.Error("admin export failed mid-stream", "err", err, "bytes", cw.n)
		panic(http.ErrAbortHandler)
	}
}
