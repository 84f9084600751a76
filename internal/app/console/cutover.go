package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/router/invalidate"
)

// The account cut-over (POST /api/v1/accounts/{account}/cutover) and the
// commands instances exchange for it on the bus (router/invalidate):
//
//  1. hold new logins of the account and its aliases here (engine.Delay)
//     and on every instance (OpHold);
//  2. wait, at most max_hold, for the logins in flight here to finish;
//  3. write the mapping (store, caches, other instances: invalidate.Set);
//  4. kick the account's sessions here, and everywhere else (OpKick: each
//     instance first waits for its own logins in flight, drops its cache
//     entries, kicks, lifts its hold and replies with what it did);
//  5. lift the hold here: held logins resume and go to the new place.
//
// Held logins and relayed sessions are not kicked (relays route every
// recipient and request afresh; mail for a held account gets 451 and is
// retried by its sender).

// Cut-over timing.
const (
	// cutoverSlack keeps a hold past max_hold so that it cannot end
	// before the cut-over lifts it (an instance that never hears the
	// lift still releases by itself).
	cutoverSlack = 5 * time.Second
	// replyGrace is how long after its own release the instance that
	// runs a cut-over waits for the replies of the instances it knows.
	replyGrace = 2 * time.Second
	// pollEvery is how often logins in flight are looked at.
	pollEvery = 10 * time.Millisecond
	// peerTTL forgets an instance not heard from for that long;
	// helloEvery is how often an instance announces itself.
	peerTTL    = 150 * time.Second
	helloEvery = time.Minute
)

// cutoverReply is another instance's report on a kick.
type cutoverReply = invalidate.Command

// inFlight are the states of a login between the hold check and the
// backend's verdict.
var inFlight = []string{sessions.StateRouting, sessions.StateLogin}

// notKicked are the states a cut-over leaves alone.
var notKicked = []string{sessions.StateHeld, sessions.StateRelaying}

// aliasesOf returns the identifiers a cut-over holds and kicks: the
// account, then the given aliases, or by default its bare local part.
func (a *Backend) aliasesOf(n string, given []string) ([]string, error) {
	ids := []string{n}
	if given == nil {
		if local, _, ok := strings.Cut(n, "@"); ok && local != "" {
			given = []string{local}
		}
	}
	for _, g := range given {
		m := a.deps.Router.Normalize(g)
		if m == "" {
			return nil, fmt.Errorf("%w: alias %q is empty once normalized", backend.ErrInvalid, g)
		}
		if !slices.Contains(ids, m) {
			ids = append(ids, m)
		}
	}
	return ids, nil
}

// sessionsOf lists the live sessions of ids in the given states.
func (a *Backend) sessionsOf(ids []string, states ...string) []sessions.Info {
	return a.deps.Engine.Sessions(func(s sessions.Info) bool {
		return slices.Contains(ids, s.Account) && slices.Contains(states, s.State)
	})
}

// waitInFlight waits until none of the logins of ids that are in flight
// now is still in flight, or until deadline. It returns how many there
// were and how many finished, and adds every held login it saw to held.
func (a *Backend) waitInFlight(ids []string, deadline time.Time, held map[uint64]bool) (total, finished int) {
	pending := map[uint64]bool{}
	for _, s := range a.sessionsOf(ids, inFlight...) {
		pending[s.ID] = true
	}
	total = len(pending)
	for {
		still := 0
		for _, s := range a.deps.Engine.Sessions(func(s sessions.Info) bool { return slices.Contains(ids, s.Account) }) {
			switch {
			case s.State == sessions.StateHeld:
				held[s.ID] = true
			case pending[s.ID] && slices.Contains(inFlight, s.State):
				still++
			}
		}
		if still == 0 || !time.Now().Before(deadline) {
			return total, total - still
		}
		time.Sleep(pollEvery)
	}
}

// kickFor kicks the sessions of ids a cut-over moves (not held logins,
// not relays) and returns how many, and how many logins wait held now.
func (a *Backend) kickFor(ids []string) (kicked, waiting int) {
	kicked = a.deps.Engine.KickSessions(func(s sessions.Info) bool {
		return slices.Contains(ids, s.Account) && !slices.Contains(notKicked, s.State)
	})
	return kicked, len(a.sessionsOf(ids, sessions.StateHeld))
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Cutover implements admin.Console.
func (b *Backend) Cutover(ctx context.Context, account string, req backend.CutoverRequest) (backend.CutoverReport, error) {
	a := b
	start := time.Now()
	if !a.deps.Current().HasDestination(req.Destination) {
		return backend.CutoverReport{}, backend.ErrUnknownDestination
	}
	if err := a.allowDestination(a.deps.Current(), req.Destination); err != nil {
		return backend.CutoverReport{}, err
	}
	w, err := b.writer()
	if err != nil {
		return backend.CutoverReport{}, err
	}
	n := a.deps.Router.Normalize(account)
	if n == "" {
		return backend.CutoverReport{}, backend.ErrInvalid
	}
	ids, err := a.aliasesOf(n, req.Aliases)
	if err != nil {
		return backend.CutoverReport{}, err
	}
	id := newRequestID()
	holdFor := req.Hold + cutoverSlack
	hold := invalidate.Command{Op: invalidate.OpHold, Request: id, From: a.con.name, IDs: ids, Hold: holdFor}
	if _, err := invalidate.EncodeCommand(hold); err != nil {
		return backend.CutoverReport{}, fmt.Errorf("%w: the account and its aliases are too long for one bus message", backend.ErrInvalid)
	}
	a.con.cutMu.Lock()
	defer a.con.cutMu.Unlock()

	rep := backend.CutoverReport{Account: n, Destination: req.Destination, Aliases: ids, HoldMS: req.Hold.Milliseconds()}
	if ex, err := b.explain(ctx, n); err == nil {
		rep.Previous = a.decision(ex)
	}
	a.deps.Log.Info("cut-over: holding logins", "account", n, "aliases", ids, "to", req.Destination, "max_hold", req.Hold, "request", id)
	a.Event(events.Event{Kind: events.EventCutover, Account: n, Destination: req.Destination, Outcome: "started", Actor: "api"})
	replies := make(chan cutoverReply, 64)
	a.con.repMu.Lock()
	a.con.replies[id] = replies
	a.con.repMu.Unlock()
	defer func() {
		a.con.repMu.Lock()
		delete(a.con.replies, id)
		a.con.repMu.Unlock()
	}()
	peers := a.peers()

	// 1. Hold here and everywhere.
	for _, x := range ids {
		a.hold(x, holdFor, "cutover")
	}
	a.publish(hold)
	lift := func() {
		for _, x := range ids {
			a.hold(x, 0, "cutover")
		}
	}

	// 2. Logins in flight here finish (or max_hold passes).
	held := map[uint64]bool{}
	rep.InFlight, rep.Waited = a.waitInFlight(ids, start.Add(req.Hold), held)

	// 3. The mapping.
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	mapped := []string{n}
	if req.MapAliases {
		mapped = ids
	}
	for _, x := range mapped {
		if err = a.flip(wctx, w, x, req.Destination, "cutover"); err != nil {
			break
		}
		rep.Mapped = append(rep.Mapped, x)
	}
	cancel()
	if err != nil {
		lift()
		a.publish(invalidate.Command{Op: invalidate.OpLift, Request: id, From: a.con.name, IDs: ids})
		a.Event(events.Event{Kind: events.EventCutover, Account: n, Destination: req.Destination, Outcome: "failed", Reason: err.Error(), Actor: "api"})
		a.deps.Log.Error("cut-over failed: mapping not written, hold lifted", "account", n, "err", err)
		return backend.CutoverReport{}, err
	}
	a.deps.Router.Invalidate(ids...)

	// 4. Kick everywhere, 5. release here.
	a.publish(invalidate.Command{Op: invalidate.OpKick, Request: id, From: a.con.name, IDs: ids, Hold: req.Hold})
	kicked, waiting := a.kickFor(ids)
	for _, s := range a.sessionsOf(ids, sessions.StateHeld) {
		held[s.ID] = true
	}
	lift()
	self := backend.CutoverInstance{Instance: a.con.name, Self: true, Kicked: kicked, Held: len(held), Released: waiting}
	rep.Instances = append(rep.Instances, self)

	// Replies of the instances known before the cut-over began.
	deadline := time.NewTimer(req.Hold + replyGrace)
	defer deadline.Stop()
	answered := map[string]bool{}
	for len(answered) < len(peers) {
		select {
		case r := <-replies:
			if answered[r.From] {
				continue
			}
			answered[r.From] = true
			rep.Instances = append(rep.Instances, backend.CutoverInstance{Instance: r.From, Kicked: r.Kicked, Held: r.Held, Released: r.Released, Error: r.Err})
		case <-deadline.C:
			for p := range peers {
				if !answered[p] {
					rep.Missing = append(rep.Missing, p)
				}
			}
			slices.Sort(rep.Missing)
			peers = nil
		case <-ctx.Done():
			peers = nil
		}
	}
	for _, in := range rep.Instances {
		rep.Kicked += in.Kicked
		rep.Held += in.Held
		rep.Released += in.Released
	}
	rep.ElapsedMS = time.Since(start).Milliseconds()
	a.Event(events.Event{Kind: events.EventCutover, Account: n, From: derefOr(rep.Previous.Destination), Destination: req.Destination,
		Outcome: "done", Count: rep.Kicked, Actor: "api"})
	a.deps.Log.Info("cut-over done", "account", n, "to", req.Destination, "kicked", rep.Kicked, "held", rep.Held,
		"instances", len(rep.Instances), "missing", rep.Missing, "elapsed", time.Since(start))
	return rep, nil
}

func derefOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// publish sends a command on the bus, if there is one that carries them.
func (a *Backend) publish(c invalidate.Command) {
	if a.deps.Carrier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := a.deps.Carrier.PublishCommand(ctx, c); err != nil {
		a.deps.Log.Warn("bus: command not sent", "op", c.Op, "err", err)
	}
}

// ---- the other side: commands from the bus

// startCommands subscribes to the bus's commands and announces this
// instance now and every helloEvery; it says goodbye when ctx ends.
func (a *Backend) StartCommands(ctx context.Context) {
	if err := a.deps.Carrier.SubscribeCommands(ctx, a.onCommand); err != nil {
		a.deps.Log.Error("bus: no command subscription; cut-overs will not reach this instance", "err", err)
		return
	}
	go func() {
		t := time.NewTicker(helloEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				a.publish(invalidate.Command{Op: invalidate.OpBye, From: a.con.name})
				return
			case <-t.C:
				a.publish(invalidate.Command{Op: invalidate.OpHello, From: a.con.name})
			}
		}
	}()
}

// onCommand handles one command (on the subscription's goroutine: what
// may take long runs on its own).
func (a *Backend) onCommand(c invalidate.Command) {
	if c.Op == invalidate.OpResync {
		// (Re)subscribed: announce ourselves; the others answer.
		go a.publish(invalidate.Command{Op: invalidate.OpHello, From: a.con.name})
		return
	}
	if c.From == "" || c.From == a.con.name {
		return // our own, back from the bus
	}
	if c.To != "" && c.To != a.con.name {
		a.seePeer(c.From)
		return
	}
	switch c.Op {
	case invalidate.OpHello:
		a.seePeer(c.From)
		go a.publish(invalidate.Command{Op: invalidate.OpHere, From: a.con.name, To: c.From})
	case invalidate.OpHere:
		a.seePeer(c.From)
	case invalidate.OpBye:
		a.con.peersMu.Lock()
		delete(a.con.peers, c.From)
		a.con.peersMu.Unlock()
	case invalidate.OpHold:
		a.seePeer(c.From)
		if c.Hold <= 0 || c.Hold > backend.MaxCutoverHold+cutoverSlack {
			return
		}
		for _, id := range c.IDs {
			a.hold(id, c.Hold, "bus")
		}
	case invalidate.OpLift:
		for _, id := range c.IDs {
			a.hold(id, 0, "bus")
		}
	case invalidate.OpKick:
		a.seePeer(c.From)
		go a.remoteKick(c)
	case invalidate.OpReply:
		a.seePeer(c.From)
		a.con.repMu.Lock()
		ch := a.con.replies[c.Request]
		a.con.repMu.Unlock()
		if ch != nil {
			select {
			case ch <- c:
			default:
			}
		}
	}
}

// remoteKick is this instance's part of another's cut-over: its own
// logins in flight finish, the caches forget the accounts, their
// sessions are kicked, the hold is lifted, and the report goes back.
func (a *Backend) remoteKick(c invalidate.Command) {
	wait := min(max(c.Hold, 0), backend.MaxCutoverHold)
	if wait == 0 {
		wait = backend.DefaultCutoverHold
	}
	held := map[uint64]bool{}
	a.waitInFlight(c.IDs, time.Now().Add(wait), held)
	a.deps.Router.Invalidate(c.IDs...)
	kicked, waiting := a.kickFor(c.IDs)
	for _, s := range a.sessionsOf(c.IDs, sessions.StateHeld) {
		held[s.ID] = true
	}
	for _, id := range c.IDs {
		a.hold(id, 0, "bus")
	}
	a.deps.Log.Info("cut-over from another instance", "from", c.From, "accounts", c.IDs, "kicked", kicked, "released", waiting)
	a.publish(invalidate.Command{Op: invalidate.OpReply, Request: c.Request, From: a.con.name, To: c.From,
		Kicked: kicked, Held: len(held), Released: waiting})
}

// seePeer notes that another instance is alive.
func (a *Backend) seePeer(name string) {
	a.con.peersMu.Lock()
	a.con.peers[name] = time.Now()
	a.con.peersMu.Unlock()
}

// peers returns the instances heard from within peerTTL.
func (a *Backend) peers() map[string]time.Time {
	a.con.peersMu.Lock()
	defer a.con.peersMu.Unlock()
	out := map[string]time.Time{}
	now := time.Now()
	for p, seen := range a.con.peers {
		if now.Sub(seen) > peerTTL {
			delete(a.con.peers, p)
			continue
		}
		out[p] = seen
	}
	return out
}
