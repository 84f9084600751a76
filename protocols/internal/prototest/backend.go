package prototest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
)

// BackendRun plays the engine behind a BackEnd: it records what the machine
// writes to the backend (Sent) and what it reports (Events).
type BackendRun[B protocols.BackEnd] struct {
	T       testing.TB
	B       B
	Pending []byte
	Sent    []byte
	Events  []string
	Done    bool
	// PlainSent is how much was sent before STARTTLS succeeded (all of it
	// while there is no TLS).
	PlainSent int
	TLS       bool
	// Consumed counts the octets the machine took; after "ok" the rest of
	// the read is the client's.
	Consumed int

	// PerRead makes each Recv one network read as the IMAP engine sees
	// it: Feed appends straight to Sent, BackendNone ends the read, and a
	// STARTTLS go-ahead discards the rest of the read (Dropped). Without
	// it the run keeps feeding while the machine consumes and carries on
	// after STARTTLS with the bytes it already holds.
	PerRead bool
	Dropped bool
	// RelayLabel goes before the quoted relay in "ok" and "refused"
	// events ("relay=" gives `ok relay="..."`).
	RelayLabel string
}

// Recv delivers what the backend sent, whole (bytewise false) or one byte
// per network read.
func (r *BackendRun[B]) Recv(data string, bytewise bool) {
	r.Dropped = false
	if !bytewise {
		r.Deliver([]byte(data))
		return
	}
	for i := 0; i < len(data) && !r.Dropped; i++ {
		r.Deliver([]byte{data[i]})
	}
}

// Deliver hands one network read to the machine.
func (r *BackendRun[B]) Deliver(b []byte) {
	if r.Done || r.Dropped {
		return
	}
	r.Pending = append(r.Pending, b...)
	for len(r.Pending) > 0 && !r.Done {
		var n int
		var ev protocols.BackendEvent
		if r.PerRead {
			n, r.Sent, ev = r.feed(r.Sent)
		} else {
			var out []byte
			n, out, ev = r.feed(nil)
			r.Sent = append(r.Sent, out...)
		}
		if !r.TLS {
			r.PlainSent = len(r.Sent)
		}
		r.Pending = r.Pending[n:]
		r.Consumed += n
		switch ev {
		case protocols.BackendNone:
			if r.PerRead || n == 0 {
				return
			}
		case protocols.BackendStartTLS:
			r.Events = append(r.Events, "starttls")
			r.TLS = true
			if r.PerRead {
				r.Pending, r.Dropped = nil, true
				r.Sent = r.B.TLSStarted(r.Sent)
				return
			}
			r.Sent = append(r.Sent, r.B.TLSStarted(nil)...)
		case protocols.BackendAuthOK:
			r.Events = append(r.Events, fmt.Sprintf("ok %s%q", r.RelayLabel, r.B.Relay()))
			r.Done = true
		case protocols.BackendAuthFailed:
			r.Events = append(r.Events, fmt.Sprintf("refused %s%q", r.RelayLabel, r.B.Relay()))
			r.Done = true
		case protocols.BackendFailed:
			r.Events = append(r.Events, "failed: "+r.B.Err().Error())
			r.Done = true
		}
	}
}

// LoggedIn reports whether the run ended with the backend's "ok".
func (r *BackendRun[B]) LoggedIn() bool {
	return r.Done && strings.HasPrefix(r.Events[len(r.Events)-1], "ok")
}

func (r *BackendRun[B]) feed(out []byte) (int, []byte, protocols.BackendEvent) {
	n, out, ev := r.B.Feed(r.Pending, out)
	if n < 0 || n > len(r.Pending) {
		r.T.Fatalf("Feed consumed %d of %d", n, len(r.Pending))
	}
	return n, out, ev
}

// RecvEach delivers each of writes, whole or (bytewise) one byte per Recv.
func (r *BackendRun[B]) RecvEach(writes []string, bytewise bool) {
	for _, w := range writes {
		if !bytewise {
			r.Recv(w, false)
			continue
		}
		for i := 0; i < len(w); i++ {
			r.Recv(w[i:i+1], false)
		}
	}
}

// Check compares what the machine sent and reported with a transcript.
func (r *BackendRun[B]) Check(sent string, events []string) {
	r.T.Helper()
	if string(r.Sent) != sent {
		r.T.Errorf("sent:\n got: %q\nwant: %q", r.Sent, sent)
	}
	if strings.Join(r.Events, "\n") != strings.Join(events, "\n") {
		r.T.Errorf("events:\n got: %q\nwant: %q", r.Events, events)
	}
}

// BothWays runs test as the subtest name, fed whole, then as
// name+"/bytewise", fed one byte at a time.
func BothWays(t *testing.T, name string, test func(t *testing.T, bytewise bool)) {
	for _, bytewise := range []bool{false, true} {
		n := name
		if bytewise {
			n += "/bytewise"
		}
		t.Run(n, func(t *testing.T) { test(t, bytewise) })
	}
}

// Transcript is one backend case: Recv is what the backend sends, one
// network read each; Sent what the machine must have written and Events
// what it must have reported.
type Transcript[C any] struct {
	Name   string
	Cfg    C
	Recv   []string
	Sent   string
	Events []string
}

// RunTranscripts runs each case whole and byte by byte on a machine
// newBackend makes from its Cfg. T is a test package's own type from
// Transcript (type transcript prototest.Transcript[BackendConfig]), so
// that its table may leave the field names out.
func RunTranscripts[C any, B protocols.BackEnd, T ~struct {
	Name   string
	Cfg    C
	Recv   []string
	Sent   string
	Events []string
}](t *testing.T, newBackend func(C) B, cases []T) {
	for _, tc := range cases {
		tc := Transcript[C](tc)
		BothWays(t, tc.Name, func(t *testing.T, bytewise bool) {
			r := &BackendRun[B]{T: t, B: newBackend(tc.Cfg)}
			r.RecvEach(tc.Recv, bytewise)
			r.Check(tc.Sent, tc.Events)
		})
	}
}

// CheckLeavesAfterVerdict feeds b the reads in recv, then one read of the
// backend's OK to the login followed by after: the machine must stop at
// the verdict and leave after to the engine (it is the client's).
func CheckLeavesAfterVerdict(t testing.TB, b protocols.BackEnd, recv []string, ok, after string) {
	t.Helper()
	for _, r := range recv {
		b.Feed([]byte(r), nil)
	}
	in := []byte(ok + after)
	n, _, ev := b.Feed(in, nil)
	if ev != protocols.BackendAuthOK || string(in[n:]) != after {
		t.Fatalf("ev %v, left %q", ev, in[n:])
	}
}
