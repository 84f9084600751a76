package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-mail/switchyard/internal/redact"
	"github.com/switchyard-mail/switchyard/router"
)

// SetMany writes every mapping with the upsert query in one transaction:
// all of them or, on any error, none. Identifiers must be normalized.
// Unlike Set it is bounded by ctx alone (a bulk import takes longer than
// one statement's timeout).
func (s *Store) SetMany(ctx context.Context, pairs []router.Mapping) error {
	if s.upsert == "" {
		return ErrReadOnly
	}
	for i, p := range pairs {
		if p.Destination == "" {
			return fmt.Errorf("sqlstore: pair %d: empty destination", i)
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	var err error
	if s.pg != nil {
		err = s.pg.do(ctx, func(c *pgx.Conn) error {
			return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
				b := &pgx.Batch{}
				for _, p := range pairs {
					b.Queue(s.upsert, p.Identifier, p.Destination)
				}
				return tx.SendBatch(ctx, b).Close()
			})
		})
	} else {
		err = s.setManySQL(ctx, pairs)
	}
	if err != nil {
		return redact.Error(fmt.Errorf("%s: %w", s.target.Dialect, err), s.url)
	}
	return nil
}

func (s *Store) setManySQL(ctx context.Context, pairs []router.Mapping) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	st, err := tx.PrepareContext(ctx, s.upsert)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, p := range pairs {
		if _, err = st.ExecContext(ctx, p.Identifier, p.Destination); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
