package engine

import (
	"github.com/switchyard-mail/switchyard/engine/gate"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
)

var (
	errDialBudget = gate.ErrBusy
	errFDBudget   = fdbudget.ErrExhausted
)

// goBounded runs fn on a short-lived goroutine, at most MaxDials at once.
// A full budget is an overload: the caller fails fast instead of queueing.
func (e *Engine) goBounded(fn func()) bool {
	if e.dials.Add(1) > int64(e.opt.MaxDials) {
		e.dials.Add(-1)
		return false
	}
	go func() {
		defer e.dials.Add(-1)
		fn()
	}()
	return true
}
