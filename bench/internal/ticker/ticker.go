// Package ticker runs a function at a fixed interval on its own goroutine
// until told to stop.
package ticker

import "time"

// Every calls tick every interval until the returned function is called or
// tick returns false; that function returns once tick is not running and
// will not run again.
func Every(interval time.Duration, tick func() (more bool)) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tk.C:
				if !tick() {
					return
				}
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
