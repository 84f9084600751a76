package relay

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	fwdinfo "github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/http/codec"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

// fakeLeg is one backend connection of the engine stand-in.
type fakeLeg struct {
	n      int
	dest   string
	up     bool // BackendConnected was called
	closed bool
	got    []byte // everything the leg received
}

// relayEngine plays engine/relay around a Relay: it keeps what either
// side left unconsumed, feeds the client again after every backend event
// (and not after BackendConnected, as the engine does not), routes
// identifiers from a table and records what each side received.
type relayEngine struct {
	t testing.TB
	r *Relay

	// routes maps an identifier to its destination; a missing one is
	// unknown, and "?" is a temporary failure.
	routes map[string]string
	// dialFail lists destinations whose dial fails.
	dialFail map[string]bool
	// legInfo is what BackendConnected is told.
	legInfo protocols.BackendLeg
	// manualDial leaves a dial pending until connect() is called.
	manualDial bool
	// clientBytewise and backendBytewise deliver each write one octet
	// per read.
	clientBytewise, backendBytewise bool
	// auto, when set, is a scripted backend: it gets what a leg received
	// and returns what the leg answers.
	auto func(l *fakeLeg, b []byte) string

	pending            []byte // client octets not consumed
	bpending           []byte // backend octets not consumed (current leg)
	prototest.RelayLog        // Out taken by takeClient, Sent by TakeSent
	legs               []*fakeLeg
	cur                *fakeLeg
	dialing            bool
	closed             bool
	tunnel             bool
	maxHeld            int      // most client octets the engine held while the machine waited
	methods            []string // of the request heads the machine accepted, in order

	// check, when set, sees every call's output and the client phase
	// before it.
	check func(kind string, before clientPhase, ev protocols.RelayEvent, o *protocols.RelayOut)
}

var testClient = fwdinfo.Info{Client: netip.MustParseAddrPort("192.0.2.7:4711")}

func newRelayEngine(t testing.TB, cfg RelayConfig, routes map[string]string) *relayEngine {
	e := &relayEngine{t: t, r: NewRelay(cfg), routes: routes}
	e.legInfo.Client = testClient
	e.Out = e.r.Greeting(e.Out)
	return e
}

// client delivers one client write ("|" stands for CRLF).
func (e *relayEngine) client(data string) {
	prototest.Deliver(crlf(data), e.clientBytewise, e.deliverClient)
}

func (e *relayEngine) deliverClient(b []byte) {
	if e.closed {
		return
	}
	e.pending = append(e.pending, b...)
	e.pump()
}

// backend delivers one write of the current leg ("|" stands for CRLF).
func (e *relayEngine) backend(data string) {
	prototest.Deliver(crlf(data), e.backendBytewise, e.deliverBackend)
}

func (e *relayEngine) deliverBackend(b []byte) {
	if e.tunnel {
		e.bpending = append(e.bpending, b...) // for the bridge
		return
	}
	if e.closed || e.cur == nil || !e.cur.up {
		return // the leg is gone, and its octets with it
	}
	e.bpending = append(e.bpending, b...)
	e.pump()
}

// down reports the current leg gone (closed by the backend, or the reply
// timeout).
func (e *relayEngine) down() {
	if e.closed || e.cur == nil {
		e.t.Fatal("down with no leg")
	}
	e.legDown()
	e.pump()
}

func (e *relayEngine) legDown() {
	e.cur.closed = true
	e.cur, e.bpending, e.dialing = nil, nil, false
	e.Event("down")
	e.call("down", func(o *protocols.RelayOut) protocols.RelayEvent { return e.r.BackendDown(o) })
}

// timeout plays the engine's deadline: the reply timeout while the
// machine awaits the backend, else the client's.
func (e *relayEngine) timeout() {
	if e.r.AwaitingBackend() {
		if e.cur == nil {
			e.t.Fatal("awaiting with no leg")
		}
		e.Event("reply timeout")
		e.down()
		return
	}
	e.Out = e.r.Timeout(e.Out)
	e.Event("timeout")
	e.closeAll()
}

// shutdown asks the machine to drain.
func (e *relayEngine) shutdown() {
	if e.ShutDown(e.r, func(o *protocols.RelayOut) { e.apply(o, protocols.RelayNone) }) {
		e.closeAll()
	}
}

// connect completes a pending dial (manualDial).
func (e *relayEngine) connect() {
	if !e.dialing {
		e.t.Fatal("no dial pending")
	}
	e.connected()
	if len(e.bpending) > 0 {
		e.pump()
	}
}

func (e *relayEngine) connected() {
	e.dialing = false
	e.cur.up = true
	e.call("connected", func(o *protocols.RelayOut) protocols.RelayEvent { return e.r.BackendConnected(e.legInfo, o) })
}

func (e *relayEngine) closeAll() {
	e.closed = true
	if e.cur != nil {
		e.cur.closed = true
		e.cur = nil
	}
	e.Event("close")
}

func (e *relayEngine) call(kind string, f func(*protocols.RelayOut) protocols.RelayEvent) protocols.RelayEvent {
	var o protocols.RelayOut
	before := e.r.phase
	ev := f(&o)
	if e.check != nil {
		e.check(kind, before, ev, &o)
	}
	e.apply(&o, ev)
	return ev
}

// pump feeds both sides until neither makes progress.
func (e *relayEngine) pump() {
	for progress := true; progress && !e.closed; {
		progress = false
		if e.cur != nil && e.cur.up && len(e.bpending) > 0 {
			in, leg := e.bpending, e.cur
			var n int
			e.call("backend", prototest.CheckedFeed(e.t, "FeedBackend", e.r.FeedBackend, in, &n))
			if e.cur == leg {
				e.bpending = e.bpending[n:]
			}
			progress = progress || n > 0
		}
		if e.closed || len(e.pending) == 0 {
			continue
		}
		in := e.pending
		var n int
		requests := e.r.requests
		ev := e.call("client", prototest.CheckedFeed(e.t, "FeedClient", e.r.FeedClient, in, &n))
		if e.r.requests > requests {
			h, _, err := codec.ParseRequestHead(in, e.r.cfg.Limits)
			if err != nil || h == nil {
				e.t.Fatalf("the machine took a head the parser refuses: %q", in)
			}
			e.methods = append(e.methods, h.Method)
		}
		e.pending = e.pending[n:]
		if n == 0 && ev == protocols.RelayNone {
			e.maxHeld = max(e.maxHeld, len(e.pending))
		}
		progress = progress || n > 0 || ev != protocols.RelayNone
	}
}

// apply writes a call's output and acts on its event as the engine does.
func (e *relayEngine) apply(o *protocols.RelayOut, ev protocols.RelayEvent) {
	e.Out = append(e.Out, o.Client...)
	if len(o.Backend) > 0 {
		if e.cur == nil || !e.cur.up {
			e.t.Fatalf("backend output %q with no leg up", o.Backend)
		}
		e.cur.got = append(e.cur.got, o.Backend...)
		e.Sent = append(e.Sent, o.Backend...)
		if e.auto != nil {
			e.bpending = append(e.bpending, e.auto(e.cur, o.Backend)...)
		}
	}
	switch ev {
	case protocols.RelayRoute:
		id := e.r.Recipient()
		dest, outcome := prototest.Route(e.routes, id)
		e.Event("route %s", id)
		e.call("routed", func(o *protocols.RelayOut) protocols.RelayEvent { return e.r.Routed(dest, outcome, o) })
	case protocols.RelayConnect:
		if e.cur != nil {
			e.cur.closed = true
		}
		dest := e.r.Destination()
		leg := &fakeLeg{n: len(e.legs) + 1, dest: dest}
		e.legs = append(e.legs, leg)
		e.cur, e.bpending = leg, nil
		e.Event("connect %s", dest)
		switch {
		case e.dialFail[dest]:
			e.legDown()
		case e.manualDial:
			e.dialing = true
		default:
			e.connected()
		}
	case protocols.RelayDisconnect:
		e.Event("disconnect")
		if e.cur != nil {
			e.cur.closed = true
		}
		e.cur, e.bpending = nil, nil
	case protocols.RelayClose:
		e.closeAll()
	case protocols.RelayTunnel:
		e.Event("tunnel")
		e.tunnel, e.closed = true, true
	}
}

func (e *relayEngine) takeClient() string { s := string(e.Out); e.Out = e.Out[:0]; return s }

// expect checks and clears what each side received since the last check
// ("|" stands for CRLF in client and backend).
func (e *relayEngine) expect(client, backend string, events ...string) {
	e.t.Helper()
	if got, want := e.takeClient(), crlf(client); got != want {
		e.t.Fatalf("client got\n  %q\nwant\n  %q", got, want)
	}
	if got, want := e.TakeSent(), crlf(backend); got != want {
		e.t.Fatalf("backend got\n  %q\nwant\n  %q", got, want)
	}
	e.CheckEvents(e.t, events...)
}

// answers has the backend write resp, which the client must get as it
// is.
func (e *relayEngine) answers(resp string) {
	e.t.Helper()
	e.backend(resp)
	e.expect(resp, "")
}

// send delivers a client write whose forwarded bytes the test does not
// check (the events it caused still are).
func (e *relayEngine) send(data string) {
	e.client(data)
	e.TakeSent()
}

// sendQuiet is send that forgets the events too.
func (e *relayEngine) sendQuiet(data string) {
	e.send(data)
	e.TakeEvents()
}

// relayModes runs a dialogue with whole writes, with the client's writes
// one octet at a time, and with the backend's: the results must be the
// same.
func relayModes(t *testing.T, cfg RelayConfig, routes map[string]string, test func(e *relayEngine)) {
	t.Helper()
	prototest.RelayModes(t, func(t *testing.T, clientBytewise, backendBytewise bool) {
		e := newRelayEngine(t, cfg, routes)
		e.clientBytewise, e.backendBytewise = clientBytewise, backendBytewise
		test(e)
	})
}

// crlf turns "|" into CRLF so that tables stay readable.
func crlf(s string) string { return strings.ReplaceAll(s, "|", "\r\n") }

// statusOf is the Status of a refusal, 0 for none, -1 for a foreign error.
func statusOf(err error) int {
	var e *codec.Error
	if errors.As(err, &e) {
		return e.Status
	}
	if err != nil {
		return -1
	}
	return 0
}
