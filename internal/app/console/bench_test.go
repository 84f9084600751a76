package console

import (
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/engine/options"
)

// BenchmarkEngineEventHook is what options.Options.Events costs a login:
// the outcome counted for the history, the event copied into the ring.
func BenchmarkEngineEventHook(b *testing.B) {
	a := New()
	a.Attach(Deps{Events: events.NewEventLog(0)})
	ev := options.Event{Time: time.Now(), Kind: options.EventLogin, Session: 7, Account: "alice@example.com", Protocol: "imap",
		Listener: "imaps", Client: "192.0.2.7:50412", Destination: "new", Outcome: "success", Reason: "bridged"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a.OnEngineEvent(ev)
		}
	})
	if a.con.logins[0].Load() == 0 {
		b.Fatal("not counted")
	}
}
