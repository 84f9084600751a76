package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

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

// lookupChunk bounds the identifiers of one IN list.
const lookupChunk = 500

// LookupMany returns the destinations of the identifiers that have one:
// on switchyard's own table with one query per 500 identifiers; with a
// custom lookup query, one lookup each (the query takes one identifier).
func (s *Store) LookupMany(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if !s.listable {
		for _, id := range ids {
			d, ok, err := s.Lookup(ctx, id)
			if err != nil {
				return nil, err
			}
			if ok {
				out[id] = d
			}
		}
		return out, nil
	}
	for start := 0; start < len(ids); start += lookupChunk {
		chunk := ids[start:min(start+lookupChunk, len(ids))]
		var b strings.Builder
		fmt.Fprintf(&b, "SELECT identifier, destination FROM %s WHERE identifier IN (", s.table)
		args := make([]any, len(chunk))
		for i, id := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			if s.pg != nil {
				fmt.Fprintf(&b, "$%d", i+1)
			} else {
				b.WriteByte('?')
			}
			args[i] = id
		}
		b.WriteByte(')')
		err := s.query(ctx, b.String(), args, func(scan func(...any) error) error {
			var id string
			var d sql.NullString
			if err := scan(&id, &d); err != nil {
				return err
			}
			if d.Valid {
				out[id] = d.String
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
