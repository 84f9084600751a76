package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-mail/switchyard/router"
)

// SetMany writes every mapping in one pipeline wrapped in MULTI/EXEC, so
// that other clients see all of them or none. On Redis Cluster the keys
// live in different slots, which one transaction cannot span: there the
// pipeline is sent without MULTI and a failure may leave part of it
// written. Identifiers must be normalized.
func (s *Store) SetMany(ctx context.Context, pairs []router.Mapping) error {
	for i, p := range pairs {
		if p.Destination == "" {
			return fmt.Errorf("redisstore: pair %d: empty destination", i)
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	fill := func(p redis.Pipeliner) error {
		for _, m := range pairs {
			p.Set(ctx, s.prefix+m.Identifier, m.Destination, 0)
		}
		return nil
	}
	var err error
	if _, cluster := s.c.(*redis.ClusterClient); cluster {
		_, err = s.c.Pipelined(ctx, fill)
	} else {
		_, err = s.c.TxPipelined(ctx, fill)
	}
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// lookupChunk bounds the keys of one MGET.
const lookupChunk = 1000

// LookupMany returns the destinations of the identifiers that have one,
// with one MGET per thousand identifiers (an import's preview of 100,000
// mappings is a hundred round trips, not 100,000).
func (s *Store) LookupMany(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	keys := make([]string, 0, min(len(ids), lookupChunk))
	for start := 0; start < len(ids); start += lookupChunk {
		chunk := ids[start:min(start+lookupChunk, len(ids))]
		keys = keys[:0]
		for _, id := range chunk {
			keys = append(keys, s.prefix+id)
		}
		var vals []any
		var err error
		if _, cluster := s.c.(*redis.ClusterClient); cluster {
			// Keys in different slots: one GET each, pipelined.
			cmds := make([]*redis.StringCmd, len(keys))
			_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, k := range keys {
					cmds[i] = p.Get(ctx, k)
				}
				return nil
			})
			if errors.Is(err, redis.Nil) {
				err = nil
			}
			vals = make([]any, len(cmds))
			for i, c := range cmds {
				if v, cerr := c.Result(); cerr == nil {
					vals[i] = v
				}
			}
		} else {
			vals, err = s.c.MGet(ctx, keys...).Result()
		}
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		for i, v := range vals {
			if d, ok := v.(string); ok {
				out[chunk[i]] = d
			}
		}
	}
	return out, nil
}
