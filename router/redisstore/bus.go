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
					fn(nil)
				}
			case *redis.Message:
				ids, err := invalidate.Decode(m.Payload)
				if err != nil {
					continue // not ours
				}
				fn(ids)
			}
		}
	}()
	return nil
}
