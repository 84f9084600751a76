package events

import (
	"testing"
	"time"
)

func TestEventLogRing(t *testing.T) {
	l := NewEventLog(4)
	if evs, last := l.Since(0, 10, nil); len(evs) != 0 || last != 0 {
		t.Fatal("empty log")
	}
	wait := l.Wait(0)
	select {
	case <-wait:
		t.Fatal("woken before any event")
	default:
	}
	for i := range 6 {
		l.Add(Event{Kind: EventLogin, Count: i})
	}
	select {
	case <-wait:
	default:
		t.Fatal("not woken by an event")
	}
	evs, last := l.Since(0, 10, nil)
	if last != 6 || len(evs) != 4 || evs[0].Seq != 3 || evs[3].Count != 5 || evs[0].Time.IsZero() {
		t.Fatalf("ring: %+v last %d", evs, last)
	}
	if evs, _ := l.Since(5, 10, nil); len(evs) != 1 || evs[0].Seq != 6 {
		t.Fatalf("after 5: %+v", evs)
	}
	if evs, _ := l.Since(0, 2, func(e *Event) bool { return e.Count%2 == 1 }); len(evs) != 2 || evs[1].Count != 5 {
		t.Fatalf("filtered: %+v", evs)
	}
	select {
	case <-l.Wait(5):
	default:
		t.Fatal("Wait(5) with event 6 in the log must not block")
	}
}

// BenchmarkEventLogAdd is the activity log's cost on the login path.
func BenchmarkEventLogAdd(b *testing.B) {
	l := NewEventLog(0)
	e := Event{Time: time.Now(), Kind: EventLogin, Session: 7, Account: "alice@example.com", Protocol: "imap", Listener: "imaps",
		Client: "192.0.2.7:50412", Destination: "new", Outcome: "success", Reason: "bridged"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Add(e)
		}
	})
}
