package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-mail/switchyard/router/invalidate"
)

// Bus announces invalidations over Redis pub/sub (PUBLISH/SUBSCRIBE on
// Options.Channel) using the store's client.
type Bus struct{ s *Store }

var _ invalidate.Bus = Bus{}

// Bus returns the store's invalidation bus.
func (s *Store) Bus() Bus { return Bus{s} }

// Publish sends the announcement for ids (everything when none).
func (b Bus) Publish(ctx context.Context, ids ...string) error {
	for _, m := range invalidate.Encode(ids...) {
		if err := b.s.c.Publish(ctx, b.s.channel, m).Err(); err != nil {
			return fmt.Errorf("redis publish: %w", err)
		}
	}
	return nil
}

// Subscribe listens in the background until ctx ends. go-redis
// resubscribes after a lost connection and confirms each (re)subscription:
// fn(nil) is called on every confirmation, since announcements made while
// the connection was down are lost.
func (b Bus) Subscribe(ctx context.Context, fn func(ids []string)) error {
	b.listen(ctx, func() { fn(nil) }, func(payload string) {
		ids, err := invalidate.Decode(payload)
		if err != nil {
			return // not ours (a command, or someone else's message)
		}
		fn(ids)
	})
	return nil
}

var _ invalidate.Carrier = Bus{}

// PublishCommand sends a command on the same channel.
func (b Bus) PublishCommand(ctx context.Context, c invalidate.Command) error {
	return invalidate.PublishCommandWith(ctx, c, func(ctx context.Context, m string) error {
		if err := b.s.c.Publish(ctx, b.s.channel, m).Err(); err != nil {
			return fmt.Errorf("redis publish: %w", err)
		}
		return nil
	})
}

// SubscribeCommands listens for commands on a subscription of its own.
func (b Bus) SubscribeCommands(ctx context.Context, fn func(invalidate.Command)) error {
	b.listen(ctx, func() { fn(invalidate.Command{Op: invalidate.OpResync}) }, invalidate.CommandHandler(fn))
	return nil
}

// listen holds a subscription to the channel until ctx ends, calling
// subscribed at each (re)subscription and message for each payload.
func (b Bus) listen(ctx context.Context, subscribed func(), message func(string)) {
	ps := b.s.c.Subscribe(ctx, b.s.channel)
	go func() {
		defer ps.Close()
		for ctx.Err() == nil {
			msg, err := ps.ReceiveTimeout(ctx, 30*time.Second)
			if err != nil {
				var nerr interface{ Timeout() bool }
				if ctx.Err() != nil {
					return
				}
				if errors.As(err, &nerr) && nerr.Timeout() {
					_ = ps.Ping(ctx) // keeps the connection checked
					continue
				}
				// Redis down: go-redis reconnects on the next receive.
				select {
				case <-ctx.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					subscribed()
				}
			case *redis.Message:
				message(m.Payload)
			}
		}
	}()
}
