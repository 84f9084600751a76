package invalidate

import (
	"context"
	"errors"
	"fmt"
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

// EncodeCommand returns c's message.
func EncodeCommand(c Command) (string, error) {
	var b strings.Builder
	b.WriteString(cmdPrefix)
	field := func(k, v string) {
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(escape(v))
	}
	num := func(k string, n int64) {
		if n != 0 {
			field(k, strconv.FormatInt(n, 10))
		}
	}
	field("op", c.Op)
	if c.Request != "" {
		field("req", c.Request)
	}
	if c.From != "" {
		field("from", c.From)
	}
	if c.To != "" {
		field("to", c.To)
	}
	num("hold", c.Hold.Milliseconds())
	num("kicked", int64(c.Kicked))
	num("held", int64(c.Held))
	num("released", int64(c.Released))
	if c.Err != "" {
		field("err", c.Err)
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
	for f := range strings.SplitSeq(rest, " ") {
		k, raw, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return Command{}, ErrBadMessage
		}
		v, ok := unescape(raw)
		if !ok {
			return Command{}, ErrBadMessage
		}
		num := func() (int, bool) {
			n, err := strconv.ParseInt(v, 10, 64)
			return int(n), err == nil && n >= 0 && n <= 1<<31
		}
		switch k {
		case "op":
			c.Op = v
		case "req":
			c.Request = v
		case "from":
			c.From = v
		case "to":
			c.To = v
		case "id":
			c.IDs = append(c.IDs, v)
		case "err":
			c.Err = v
		case "hold", "kicked", "held", "released":
			n, ok := num()
			if !ok {
				return Command{}, ErrBadMessage
			}
			switch k {
			case "hold":
				c.Hold = time.Duration(n) * time.Millisecond
			case "kicked":
				c.Kicked = n
			case "held":
				c.Held = n
			default:
				c.Released = n
			}
		}
	}
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
