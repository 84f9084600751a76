package prototest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
)

// AlternateVerdicts refuses logins and says the backend is unavailable in
// turn (rejected first), so a fuzz run meets both failure paths.
func AlternateVerdicts() Verdict {
	return InTurn(&Failure{Kind: protocols.FailRejected}, &Failure{Kind: protocols.FailUnavailable})
}

// ServerFuzz is the check every server fuzz target makes on random client
// bytes: fed whole, in the writes Chunk cuts, and byte by byte, the machine
// gives the same output, events and bridged bytes (but after STARTTLS,
// where what follows depends on the chunking by design), the engine never
// holds more than MaxHeld octets while the connection is open, and the output stays within MaxOut.
type ServerFuzz[S protocols.FrontEnd] struct {
	New func() *Client[S] // a fresh client
	// Verdicts, when set, gives each fresh client its verdicts
	// (AlternateVerdicts, say).
	Verdicts func() Verdict
	MaxHeld  int
	MaxOut   func(in int) int
}

// Check runs data through fresh clients; cuts shape the writes.
func (f ServerFuzz[S]) Check(t testing.TB, data, cuts []byte) {
	t.Helper()
	run := func(writes []string, bytewise bool) *Client[S] {
		c := f.New()
		if f.Verdicts != nil {
			c.Verdict = f.Verdicts()
		}
		for _, w := range writes {
			c.Send(w, bytewise)
			// A closed connection holds nothing: the engine drops
			// what was read past the close.
			if !c.Closed && len(c.Pending) > f.MaxHeld {
				t.Fatalf("engine holds %d bytes", len(c.Pending))
			}
		}
		return c
	}
	whole := run([]string{string(data)}, false)
	if max := f.MaxOut(len(data)); len(whole.Out) > max {
		t.Fatalf("output %d bytes for %d of input", len(whole.Out), len(data))
	}
	if len(data) > 4096 {
		return // keep byte-at-a-time runs cheap
	}
	for _, bytewise := range []bool{false, true} {
		c := run(Chunk(data, cuts), bytewise)
		if string(c.Out) != string(whole.Out) || fmt.Sprint(c.Events) != fmt.Sprint(whole.Events) || string(c.ToBackend) != string(whole.ToBackend) {
			if strings.Contains(fmt.Sprint(whole.Events), "starttls") {
				continue // bytes after STARTTLS depend on the chunking by design
			}
			t.Fatalf("chunking changes the result:\n%q %q\n%q %q", c.Out, c.Events, whole.Out, whole.Events)
		}
	}
}

// Chunk splits data into writes whose sizes come from cuts (1..16 each;
// no cuts: one write), as a fuzz target feeds a machine.
func Chunk(data, cuts []byte) []string {
	var out []string
	for i := 0; len(data) > 0; i++ {
		n := len(data)
		if len(cuts) > 0 {
			n = int(cuts[i%len(cuts)]%16) + 1
		}
		n = min(n, len(data))
		out = append(out, string(data[:n]))
		data = data[n:]
	}
	return out
}

// BackendFuzz is the check a backend fuzz target makes on random backend
// bytes: fed whole, in the writes Chunk cuts, and one byte at a time, the
// machine sends the same bytes, reports the same events, keeps the same
// relay and, when it logged in, leaves the same bytes to the client; it
// never sends more than MaxSent octets (4096 when zero)
// nor keeps a relay over MaxRelay; and when STARTTLS is required nothing
// in Clear goes out before TLS.
type BackendFuzz[B protocols.BackEnd] struct {
	New func() B // a fresh machine
	// StartTLS says the machine was told to start TLS first; Clear lists
	// what it must then not send in the clear (the commands that carry
	// credentials or the client's facts).
	StartTLS bool
	Clear    []string
	Done     func(r *BackendRun[B]) // checks a finished run; may be nil
	MaxSent  int
	MaxRelay int
	// PerRead feeds each write as one network read the way the IMAP
	// engine does (BackendRun.PerRead): what the machine does then
	// depends on the cuts, so the runs, in the writes Chunk cuts and byte
	// by byte, are checked each on its own, not against each other.
	PerRead bool
}

// Check runs data through fresh machines; cuts shape the writes.
func (f BackendFuzz[B]) Check(t testing.TB, data, cuts []byte) {
	t.Helper()
	maxSent := f.MaxSent
	if maxSent == 0 {
		maxSent = 4096
	}
	run := func(writes []string) *BackendRun[B] {
		r := &BackendRun[B]{T: t, B: f.New(), PerRead: f.PerRead}
		for _, w := range writes {
			r.Recv(w, false)
		}
		if f.StartTLS {
			plain := string(r.Sent[:r.PlainSent])
			for _, s := range f.Clear {
				if strings.Contains(plain, s) {
					t.Fatalf("credentials sent before TLS: %q", r.Sent)
				}
			}
		}
		if f.Done != nil {
			f.Done(r)
		}
		if len(r.Sent) > maxSent {
			t.Fatalf("sent %d bytes", len(r.Sent))
		}
		if len(r.B.Relay()) > f.MaxRelay {
			t.Fatalf("relay of %d bytes", len(r.B.Relay()))
		}
		return r
	}
	if f.PerRead {
		run(Chunk(data, cuts))
		run(Chunk(data, []byte{0}))
		return
	}
	whole := run([]string{string(data)})
	for _, writes := range [][]string{Chunk(data, cuts), Chunk(data, []byte{0})} {
		c := run(writes)
		if string(c.Sent) != string(whole.Sent) || fmt.Sprint(c.Events) != fmt.Sprint(whole.Events) ||
			string(c.B.Relay()) != string(whole.B.Relay()) || c.LoggedIn() && c.Consumed != whole.Consumed {
			t.Fatalf("chunking changes the result:\n%q %q %q %d\n%q %q %q %d", c.Sent, c.Events, c.B.Relay(), c.Consumed,
				whole.Sent, whole.Events, whole.B.Relay(), whole.Consumed)
		}
	}
}

// ServerFlags reads the settings every ServerConfig has from a server fuzz
// target's flags byte, the same bits in every protocol: 0 StartTLS, 1
// TLSActive, 2 AllowPlainWithoutTLS, 6-7 MaxAuthAttempts-1 (bit 3 asks
// the target for small limits; 4 and 5 are its own).
func ServerFlags(flags uint8) (startTLS, tlsActive, allowPlain bool, maxAuthAttempts int) {
	return flags&1 != 0, flags&2 != 0, flags&4 != 0, int(flags>>6) + 1
}

// ReplayFlags reads the ReplayConfig every XCLIENT backend fuzz target
// (pop3, managesieve, smtp) takes from its flags byte, the same bits in
// each: 0-1 pick one of logins, 2 forwards fwd, 3 StartTLS, 4
// HideAuthErrors (5 and up are the target's own).
func ReplayFlags(flags uint8, logins [4]*protocols.Login, fwd *forward.Info) protocols.ReplayConfig {
	cfg := protocols.ReplayConfig{
		Login:          logins[flags&3],
		StartTLS:       flags&8 != 0,
		HideAuthErrors: flags&16 != 0,
	}
	if flags&4 != 0 {
		cfg.Forward = fwd
	}
	return cfg
}
