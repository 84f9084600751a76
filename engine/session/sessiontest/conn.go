// Package sessiontest is the transport as a session kind sees it, for the
// kinds' own tests (engine/login, engine/relay): input, output, caps,
// pauses and deadlines recorded instead of done. A test embeds Conn and
// adds the engine services its kind calls; a call nobody provided panics
// on the nil session.Conn inside, naming the method the kind should not
// have made. Imported by tests only.
package sessiontest

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
)

// Conn records what a session kind does with its connection.
type Conn struct {
	session.Conn
	Lis options.Listener
	Opt options.Options
	// In is the client's unconsumed input; Written what was sent to it.
	In      []byte
	Written bytes.Buffer
	// Lagging makes Behind true (and Drained false).
	Lagging  bool
	Paused   bool
	Resumers map[session.Resumer]bool
	Closed   bool
	// Timeouts are the deadlines armed with SetTimeout, in order;
	// Deadline is the last one armed either way.
	Timeouts []time.Duration
	Deadline time.Time
	Refusals []string
	Posted   []func()
	rout     protocols.RelayOut
}

// New is a connection on listener lis.
func New(lis options.Listener) *Conn {
	return &Conn{Lis: lis, Resumers: map[session.Resumer]bool{}}
}

func (c *Conn) Listener() *options.Listener  { return &c.Lis }
func (c *Conn) Client() netip.AddrPort       { return netip.MustParseAddrPort("192.0.2.1:1000") }
func (c *Conn) SessionName() string          { return "test1" }
func (c *Conn) Forward() forward.Info        { return forward.Info{Client: c.Client()} }
func (c *Conn) Input() []byte                { return c.In }
func (c *Conn) Consume(n int)                { c.In = c.In[n:] }
func (c *Conn) Out() []byte                  { return nil }
func (c *Conn) Write(b []byte)               { c.Written.Write(b) }
func (c *Conn) Live() bool                   { return !c.Closed }
func (c *Conn) Behind() bool                 { return c.Lagging }
func (c *Conn) Drained() bool                { return !c.Lagging }
func (c *Conn) OutputSoftCap() int           { return 64 << 10 }
func (c *Conn) Pause()                       { c.Paused = true }
func (c *Conn) Unpause()                     { c.Paused = false }
func (c *Conn) AddPaused(r session.Resumer)  { c.Resumers[r] = true }
func (c *Conn) DropPaused(r session.Resumer) { delete(c.Resumers, r) }
func (c *Conn) SetDeadline(t time.Time)      { c.Deadline = t }
func (c *Conn) Close()                       { c.Closed = true }
func (c *Conn) Post(fn func()) bool          { c.Posted = append(c.Posted, fn); return true }
func (c *Conn) Log() *slog.Logger            { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func (c *Conn) Refusal(reason string)        { c.Refusals = append(c.Refusals, reason) }
func (c *Conn) Options() *options.Options    { return &c.Opt }
func (c *Conn) Draining() bool               { return false }

func (c *Conn) SetTimeout(d time.Duration) {
	c.Timeouts = append(c.Timeouts, d)
	c.Deadline = time.Now().Add(d)
}

func (c *Conn) RelayOut() *protocols.RelayOut {
	c.rout.Client, c.rout.Backend = c.rout.Client[:0], c.rout.Backend[:0]
	return &c.rout
}
