package sqlstore

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgPool is a small bounded pool of pgx connections. (pgx's own pool and
// its database/sql adapter need a module this build does not carry.)
type pgPool struct {
	cfg    *pgx.ConnConfig
	sem    chan struct{}  // one token per open connection
	idle   chan *pgx.Conn // idle connections, newest last
	closed atomic.Bool
}

var errPoolClosed = errors.New("sqlstore: store closed")

func newPGPool(cfg *pgx.ConnConfig, maxOpen, maxIdle int) *pgPool {
	return &pgPool{cfg: cfg, sem: make(chan struct{}, maxOpen), idle: make(chan *pgx.Conn, maxIdle)}
}

// do runs fn on a connection. A connection-level failure on a reused
// connection (the server restarted since it was opened) is retried once
// on a fresh one, as database/sql does.
func (p *pgPool) do(ctx context.Context, fn func(*pgx.Conn) error) error {
	for attempt := 0; ; attempt++ {
		if p.closed.Load() {
			return errPoolClosed
		}
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		c, reused, err := p.get(ctx, attempt > 0)
		if err != nil {
			<-p.sem
			return err
		}
		err = fn(c)
		healthy := !c.IsClosed() && (err == nil || isServerError(err)) && ctx.Err() == nil
		if healthy && !p.closed.Load() {
			select {
			case p.idle <- c:
				c = nil
			default:
			}
		}
		if c != nil {
			_ = c.Close(context.WithoutCancel(ctx))
		}
		<-p.sem
		if err != nil && !healthy && reused && attempt == 0 && ctx.Err() == nil && !isServerError(err) {
			continue
		}
		return err
	}
}

func (p *pgPool) get(ctx context.Context, fresh bool) (*pgx.Conn, bool, error) {
	for !fresh {
		select {
		case c := <-p.idle:
			if c.IsClosed() {
				continue
			}
			return c, true, nil
		default:
		}
		break
	}
	c, err := pgx.ConnectConfig(ctx, p.cfg)
	return c, false, err
}

// isServerError: the server answered (a SQL error), so the connection is
// fine. A FATAL or PANIC report (the server is shutting down or has
// killed the session) ends the connection.
func isServerError(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Severity != "FATAL" && pe.Severity != "PANIC"
	}
	return errors.Is(err, pgx.ErrNoRows)
}

func (p *pgPool) close() {
	p.closed.Store(true)
	for {
		select {
		case c := <-p.idle:
			_ = c.Close(context.Background())
		default:
			return
		}
	}
}
