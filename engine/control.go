package engine

import "time"

// Delay holds new logins of account (normalized) for d; d <= 0 lifts it
// (gate.Gate.Delay).
func (e *Engine) Delay(account string, d time.Duration) { e.gate.Delay(account, d) }

// SetMaintenance takes a destination out of service for new logins,
// relayed recipients and HTTP/2 streams, or puts it back (the admin API's
// maintenance switch); sessions already there carry on.
func (e *Engine) SetMaintenance(dest string, on bool) { e.gate.SetMaintenance(dest, on) }

// InMaintenance reports whether dest is switched out of service.
func (e *Engine) InMaintenance(dest string) bool { return e.gate.InMaintenance(dest) }
