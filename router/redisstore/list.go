package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-mail/switchyard/router"
)

var _ router.Lister = (*Store)(nil)

// globEscaper escapes the characters SCAN MATCH's glob treats specially.
var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

// scanBatch is the COUNT hint of one SCAN.
const scanBatch = 500

// List implements router.Lister with SCAN over the store's prefix (no
// order; the cursor is SCAN's, so a page may hold a few more than limit,
// and a key written during the walk may be listed twice or not at all,
// as SCAN guarantees). match is lowercased (identifiers are stored
// normalized). Redis Cluster spreads keys over nodes: ErrNotListable.
func (s *Store) List(ctx context.Context, cursor, match string, limit int) ([]router.Mapping, string, error) {
	if _, ok := s.c.(*redis.ClusterClient); ok {
		return nil, "", router.ErrNotListable
	}
	var cur uint64
	if cursor != "" {
		var err error
		if cur, err = strconv.ParseUint(cursor, 10, 64); err != nil {
			return nil, "", fmt.Errorf("redisstore: bad cursor %q", cursor)
		}
	}
	pattern := globEscaper.Replace(s.prefix) + "*"
	if match != "" {
		pattern += globEscaper.Replace(strings.ToLower(match)) + "*"
	}
	var page []router.Mapping
	for {
		keys, next, err := s.c.Scan(ctx, cur, pattern, scanBatch).Result()
		if err != nil {
			return nil, "", fmt.Errorf("redis scan: %w", err)
		}
		ms, err := s.values(ctx, keys)
		if err != nil {
			return nil, "", err
		}
		page = append(page, ms...)
		cur = next
		if cur == 0 {
			return page, "", nil
		}
		if len(page) >= limit {
			return page, strconv.FormatUint(cur, 10), nil
		}
	}
}

// values reads keys' destinations (a key deleted meanwhile is skipped).
func (s *Store) values(ctx context.Context, keys []string) ([]router.Mapping, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	vals, err := s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis mget: %w", err)
	}
	out := make([]router.Mapping, 0, len(keys))
	for i, v := range vals {
		d, ok := v.(string)
		if !ok || d == "" {
			continue
		}
		out = append(out, router.Mapping{Identifier: strings.TrimPrefix(keys[i], s.prefix), Destination: d})
	}
	return out, nil
}

// Count implements router.Lister by walking every key of the prefix.
func (s *Store) Count(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	cursor := ""
	for {
		page, next, err := s.List(ctx, cursor, "", 10*scanBatch)
		if err != nil {
			return nil, err
		}
		for _, m := range page {
			out[m.Destination]++
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}
