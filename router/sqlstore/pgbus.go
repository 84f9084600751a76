package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-mail/switchyard/router/invalidate"
)

// DefaultChannel is the LISTEN/NOTIFY channel of PGBus.
const DefaultChannel = "switchyard_invalidate"

// PGBus announces invalidations with PostgreSQL NOTIFY and receives them
// with LISTEN on a dedicated connection, reconnecting after a failure.
type PGBus struct {
	s       *Store
	channel string
}

var _ invalidate.Bus = (*PGBus)(nil)

// PGBus returns the invalidation bus of a PostgreSQL store on channel
// (DefaultChannel when empty).
func (s *Store) PGBus(channel string) (*PGBus, error) {
	if s.pg == nil {
		return nil, fmt.Errorf("sqlstore: LISTEN/NOTIFY needs PostgreSQL, not %s", s.target.Dialect)
	}
	if channel == "" {
		channel = DefaultChannel
	}
	if !identRE.MatchString(channel) || len(channel) > 63 {
		return nil, fmt.Errorf("sqlstore: channel %q is not a plain identifier", channel)
	}
	return &PGBus{s: s, channel: channel}, nil
}

// Publish sends the announcement for ids (everything when none).
func (b *PGBus) Publish(ctx context.Context, ids ...string) error {
	for _, m := range invalidate.Encode(ids...) {
		if err := b.s.exec(ctx, "SELECT pg_notify($1, $2)", b.channel, m); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
	}
	return nil
}

// Subscribe listens in the background until ctx ends. fn(nil) is called
// each time LISTEN takes effect (at first and after every reconnection,
// since notifications sent meanwhile are lost).
func (b *PGBus) Subscribe(ctx context.Context, fn func(ids []string)) error {
	b.run(ctx, func() { fn(nil) }, func(payload string) {
		if ids, err := invalidate.Decode(payload); err == nil {
			fn(ids)
		}
	})
	return nil
}

var _ invalidate.Carrier = (*PGBus)(nil)

// PublishCommand sends a command with NOTIFY on the same channel.
func (b *PGBus) PublishCommand(ctx context.Context, c invalidate.Command) error {
	return invalidate.PublishCommandWith(ctx, c, func(ctx context.Context, m string) error {
		if err := b.s.exec(ctx, "SELECT pg_notify($1, $2)", b.channel, m); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
		return nil
	})
}

// SubscribeCommands listens for commands on a LISTEN connection of its
// own.
func (b *PGBus) SubscribeCommands(ctx context.Context, fn func(invalidate.Command)) error {
	b.run(ctx, func() { fn(invalidate.Command{Op: invalidate.OpResync}) }, invalidate.CommandHandler(fn))
	return nil
}

// run holds a LISTEN connection in the background until ctx ends,
// reconnecting after failures.
func (b *PGBus) run(ctx context.Context, listening func(), message func(string)) {
	go func() {
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := b.listen(ctx, listening, message)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				backoff = 100 * time.Millisecond
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
		}
	}()
}

// listen holds one LISTEN connection until it fails. It returns nil when
// it had been listening (so the retry starts quickly).
func (b *PGBus) listen(ctx context.Context, listening func(), message func(string)) error {
	cctx, cancel := context.WithTimeout(ctx, b.s.timeout)
	c, err := pgx.ConnectConfig(cctx, b.s.pg.cfg)
	if err == nil {
		_, err = c.Exec(cctx, "LISTEN "+pgx.Identifier{b.channel}.Sanitize())
	}
	cancel()
	if err != nil {
		if c != nil {
			_ = c.Close(context.Background())
		}
		return err
	}
	defer c.Close(context.Background())
	listening()
	for {
		// Wake up now and then to notice a dead server on an idle link.
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		n, err := c.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			message(n.Payload)
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded) && !c.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, b.s.timeout)
			err = c.Ping(pctx)
			cancel()
			if err != nil {
				return nil
			}
		default:
			return nil
		}
	}
}
