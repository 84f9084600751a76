package redisstore

import (
	"context"
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
