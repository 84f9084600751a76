package prototest

import (
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
)

// Deliver hands one write of data to deliver: whole, or one octet a read
// when bytewise, as a relay test engine delivers either side's writes.
func Deliver(data string, bytewise bool, deliver func([]byte)) {
	if !bytewise {
		deliver([]byte(data))
		return
	}
	for i := 0; i < len(data); i++ {
		deliver([]byte{data[i]})
	}
}

// CheckedFeed is a relay call that feeds in to feed (FeedClient or
// FeedBackend, named by name) and fails t when it claims to have consumed
// less than nothing or more than in; *n gets what it consumed.
func CheckedFeed(t testing.TB, name string, feed func([]byte, *protocols.RelayOut) (int, protocols.RelayEvent), in []byte, n *int) func(*protocols.RelayOut) protocols.RelayEvent {
	return func(o *protocols.RelayOut) protocols.RelayEvent {
		var ev protocols.RelayEvent
		*n, ev = feed(in, o)
		if *n < 0 || *n > len(in) {
			t.Fatalf("%s consumed %d of %d", name, *n, len(in))
		}
		return ev
	}
}

// ShutDown asks r to drain as the engine does, records its answer and
// hands its output to apply; true when the connection closes now.
func (l *RelayLog) ShutDown(r protocols.Relay, apply func(*protocols.RelayOut)) bool {
	var o protocols.RelayOut
	now := r.ShuttingDown(&o)
	l.Event("shutdown %v", now)
	apply(&o)
	return now
}
