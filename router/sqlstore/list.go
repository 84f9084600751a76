package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard-mail/switchyard/internal/redact"
	"github.com/switchyard-mail/switchyard/router"
)

var _ router.Lister = (*Store)(nil)

// likeEscaper escapes LIKE's wildcards with '!', an escape character all
// three dialects accept in an ESCAPE clause (a backslash means different
// things in MySQL's and PostgreSQL's string literals).
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// ErrNoSearch is returned by List for a search when the configured list
// query takes no search pattern.
var ErrNoSearch = errors.New("sqlstore: the list query takes no search pattern (a third placeholder)")

// List implements router.Lister, in identifier order; the cursor is the
// last identifier of the previous page. It runs the List query when one
// is configured, else reads switchyard's own table; with a custom lookup
// query and no List query the table is unknown: ErrNotListable. match is
// lowercased (identifiers are stored normalized) and compared as bytes.
func (s *Store) List(ctx context.Context, cursor, match string, limit int) ([]router.Mapping, string, error) {
	var (
		q    string
		args []any
	)
	pattern := "%" + likeEscaper.Replace(strings.ToLower(match)) + "%"
	switch {
	case s.list != "":
		if match != "" && !s.listSearch {
			return nil, "", ErrNoSearch
		}
		q, args = s.list, []any{cursor, limit}
		if s.listSearch {
			args = []any{cursor, pattern, limit}
		}
	case !s.listable:
		return nil, "", router.ErrNotListable
	default:
		ph := func(n int) string {
			if s.pg != nil {
				return fmt.Sprintf("$%d", n)
			}
			return "?"
		}
		q = fmt.Sprintf("SELECT identifier, destination FROM %s WHERE identifier > %s", s.table, ph(1))
		args = []any{cursor}
		if match != "" {
			q += fmt.Sprintf(" AND identifier LIKE %s ESCAPE '!'", ph(2))
			args = append(args, pattern)
		}
		q += fmt.Sprintf(" ORDER BY identifier LIMIT %d", limit)
	}
	var page []router.Mapping
	err := s.query(ctx, q, args, func(scan func(...any) error) error {
		var m router.Mapping
		if err := scan(&m.Identifier, &m.Destination); err != nil {
			return err
		}
		page = append(page, m)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(page) >= limit && limit > 0 {
		next = page[len(page)-1].Identifier
	}
	return page, next, nil
}

// Count implements router.Lister with the Count query, or on switchyard's
// own table.
func (s *Store) Count(ctx context.Context) (map[string]int, error) {
	q := s.count
	switch {
	case q != "":
	case !s.listable:
		return nil, router.ErrNotListable
	default:
		q = fmt.Sprintf("SELECT destination, COUNT(*) FROM %s GROUP BY destination", s.table)
	}
	out := map[string]int{}
	err := s.query(ctx, q, nil, func(scan func(...any) error) error {
		var d string
		var n int64
		if err := scan(&d, &n); err != nil {
			return err
		}
		out[d] = int(n)
		return nil
	})
	return out, err
}

// query runs q and calls row for each row, bounded by the store's timeout.
func (s *Store) query(ctx context.Context, q string, args []any, row func(scan func(...any) error) error) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var err error
	if s.pg != nil {
		err = s.pg.do(ctx, func(c *pgx.Conn) error {
			rows, err := c.Query(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := row(rows.Scan); err != nil {
					return err
				}
			}
			return rows.Err()
		})
	} else {
		rows, qerr := s.db.QueryContext(ctx, q, args...)
		if qerr == nil {
			for rows.Next() {
				if err = row(rows.Scan); err != nil {
					break
				}
			}
			if err == nil {
				err = rows.Err()
			}
			rows.Close()
		} else {
			err = qerr
		}
	}
	if err != nil {
		return redact.Error(fmt.Errorf("%s: %w", s.target.Dialect, err), s.url)
	}
	return nil
}
