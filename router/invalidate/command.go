package invalidate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Commands are the other messages instances exchange on the bus: the
// admin API's account cut-over holds an account's logins and kicks its
// sessions on every instance, and instances announce themselves so that
// the one running a cut-over knows whose replies to wait for.
//
// Format: "sy1c" followed by space-separated key=value fields, each value
// escaped as an identifier is in an invalidation; "id" may repeat.
// Unknown keys are ignored (fields can be added), and instances that
// only know invalidations ignore the whole message: it does not start
// with "sy1 ", so their Decode refuses it.
const cmdPrefix = "sy1c"

// Command operations.
const (
	OpHello = "hello" // an instance joined the bus (or is still there); others answer here
	OpHere  = "here"  // the answer to a hello
	OpBye   = "bye"   // an instance leaves
	OpHold  = "hold"  // hold new logins of IDs for Hold
	OpKick  = "kick"  // wait for logins of IDs in flight, kick IDs' sessions, drop their cache entries, lift the hold
	OpLift  = "lift"  // lift the hold of IDs (a cut-over that failed)
	OpReply = "reply" // an instance's report on a kick
)

// Command is one command message.
type Command struct {
	Op      string
	Request string // the cut-over it belongs to (hold, kick, reply)
	From    string // the sending instance
	// To is the instance a reply or a here is for ("" for everyone).
	To   string
	IDs  []string
	Hold time.Duration // OpHold
	// OpReply: what the instance did.
	Kicked, Held, Released int
	Err                    string
}

// ErrTooLong is returned by EncodeCommand for a command that does not fit
// in MaxMessage bytes (too many identifiers).
var ErrTooLong = errors.New("invalidate: command longer than MaxMessage")

// commandField is one single-valued key of a command message: a text, or
// a count (Hold travels as a count of milliseconds).
type commandField struct {
	key   string
	text  *string
	count *int
}

// fields lists c's single-valued keys in the order EncodeCommand writes
// them, so that the two directions name each key once; holdMS stands in
// for c.Hold.
func (c *Command) fields(holdMS *int) []commandField {
	return []commandField{
		{key: "op", text: &c.Op}, {key: "req", text: &c.Request}, {key: "from", text: &c.From}, {key: "to", text: &c.To},
		{key: "hold", count: holdMS}, {key: "kicked", count: &c.Kicked}, {key: "held", count: &c.Held}, {key: "released", count: &c.Released},
		{key: "err", text: &c.Err},
	}
}

// EncodeCommand returns c's message: "op" always, the other keys when
// set, then one "id" per identifier.
func EncodeCommand(c Command) (string, error) {
	var b strings.Builder
	b.WriteString(cmdPrefix)
	field := func(k, v string) {
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(escape(v))
	}
	holdMS := int(c.Hold.Milliseconds())
	for _, f := range c.fields(&holdMS) {
		switch {
		case f.text != nil && (*f.text != "" || f.key == "op"):
			field(f.key, *f.text)
		case f.count != nil && *f.count != 0:
			field(f.key, strconv.Itoa(*f.count))
		}
	}
	for _, id := range c.IDs {
		field("id", id)
	}
	if b.Len() > MaxMessage {
		return "", ErrTooLong
	}
	return b.String(), nil
}

// DecodeCommand parses a command message. Text that is not a command
// (an invalidation, someone else's message) is ErrBadMessage.
func DecodeCommand(msg string) (Command, error) {
	rest, ok := strings.CutPrefix(msg, cmdPrefix+" ")
	if !ok || rest == "" {
		return Command{}, ErrBadMessage
	}
	var c Command
	var holdMS int
	fields := c.fields(&holdMS)
	for f := range strings.SplitSeq(rest, " ") {
		k, raw, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return Command{}, ErrBadMessage
		}
		v, ok := unescape(raw)
		if !ok {
			return Command{}, ErrBadMessage
		}
		if k == "id" {
			c.IDs = append(c.IDs, v)
			continue
		}
		i := slices.IndexFunc(fields, func(f commandField) bool { return f.key == k })
		switch {
		case i < 0: // a key added after this instance was built
		case fields[i].text != nil:
			*fields[i].text = v
		default:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > 1<<31 {
				return Command{}, ErrBadMessage
			}
			*fields[i].count = int(n)
		}
	}
	c.Hold = time.Duration(holdMS) * time.Millisecond
	if c.Op == "" {
		return Command{}, ErrBadMessage
	}
	return c, nil
}

// Carrier is a Bus that also carries commands (redisstore.Bus and
// sqlstore.PGBus are).
type Carrier interface {
	Bus
	// PublishCommand sends c to every subscribed instance, the sender's
	// own subscription included.
	PublishCommand(ctx context.Context, c Command) error
	// SubscribeCommands calls fn for every command until ctx ends, in the
	// background (it returns at once), from one goroutine at a time; fn
	// gets Command{Op: OpResync} whenever the subscription is
	// (re)established, since commands sent meanwhile are lost.
	SubscribeCommands(ctx context.Context, fn func(Command)) error
}

// OpResync is what SubscribeCommands delivers when its subscription is
// (re)established (never sent on the bus).
const OpResync = "resync"

// CommandHandler adapts fn to a raw message subscription: commands are
// decoded and passed on, anything else is ignored.
func CommandHandler(fn func(Command)) func(payload string) {
	return func(payload string) {
		if c, err := DecodeCommand(payload); err == nil {
			fn(c)
		}
	}
}

// PublishCommandWith encodes c and hands the message to publish.
func PublishCommandWith(ctx context.Context, c Command, publish func(ctx context.Context, msg string) error) error {
	m, err := EncodeCommand(c)
	if err != nil {
		return err
	}
	if err := publish(ctx, m); err != nil {
		return fmt.Errorf("command %s: %w", c.Op, err)
	}
	return nil
}
