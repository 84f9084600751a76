// Package redisstore is a router.Store backed by Redis: the destination of
// account id is the string value of key <Prefix><id>.
//
// One server (redis:// or rediss:// for TLS), Sentinel (MasterName) or
// Cluster (Cluster, or several addresses) through go-redis's
// UniversalClient. Timeouts are short and commands are not retried, so an
// outage makes Lookup fail fast (the router tempfails the login) instead of
// stalling logins; the client reconnects by itself when Redis returns. New
// never contacts Redis: the proxy starts while Redis is down, and Ping
// tells whether it is reachable.
package redisstore

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-mail/switchyard/internal/redact"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/router"
)

// The key prefix and the invalidation channel of zero Options fields.
// The timeouts and the pool size default to limits.RedisTimeout and
// limits.RedisPoolSize (mapping.redis.pool_size's default).
const (
	DefaultPrefix  = "switchyard:route:"
	DefaultChannel = "switchyard:invalidate"
)

// Options configures a Store.
type Options struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// (TLS).
	// go-redis query parameters (dial_timeout=...) are accepted.
	URL string
	// Addrs are further addresses: more Sentinels (with MasterName) or
	// more Cluster seed nodes.
	Addrs []string
	// MasterName selects Sentinel: URL's host and Addrs are Sentinels
	// watching this master.
	MasterName string
	// Cluster selects Redis Cluster (also implied by two or more
	// addresses without MasterName).
	Cluster bool
	// SentinelPassword authenticates to the Sentinels when they need it.
	SentinelPassword string
	// TLS replaces the TLS configuration (a private CA, client
	// certificates). With redis:// it turns TLS on.
	TLS *tls.Config

	// Prefix is prepended to the identifier to form the key (default
	// "switchyard:route:"). Set it to "-" for no prefix.
	Prefix string
	// Channel is the pub/sub channel of the invalidation Bus (default
	// "switchyard:invalidate").
	Channel string

	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the number of connections per node (default 16).
	PoolSize int
	// MaxRetries retries a failed command (default 0: fail fast).
	MaxRetries int
}

// Store is a Redis mapping store. It is safe for concurrent use.
type Store struct {
	c       redis.UniversalClient
	prefix  string
	channel string
}

var _ router.Store = (*Store)(nil)

// New validates opt and returns a store. It does not connect.
func New(opt Options) (*Store, error) {
	uo, err := universal(opt)
	if err != nil {
		// go-redis quotes the URL (or the piece that did not parse) in
		// its errors, password included.
		return nil, redact.Error(err, opt.URL)
	}
	s := &Store{c: redis.NewUniversalClient(uo), prefix: opt.Prefix, channel: opt.Channel}
	switch s.prefix {
	case "":
		s.prefix = DefaultPrefix
	case "-":
		s.prefix = ""
	}
	if s.channel == "" {
		s.channel = DefaultChannel
	}
	return s, nil
}

func universal(opt Options) (*redis.UniversalOptions, error) {
	if opt.URL == "" {
		return nil, errors.New("redisstore: URL is empty")
	}
	po, err := redis.ParseURL(opt.URL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: URL: %w", err)
	}
	for _, a := range opt.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("redisstore: Addrs: %q: %w", a, err)
		}
	}
	if opt.Cluster && opt.MasterName != "" {
		return nil, errors.New("redisstore: Cluster and MasterName (Sentinel) are exclusive")
	}
	if opt.PoolSize < 0 || opt.MaxRetries < 0 {
		return nil, errors.New("redisstore: PoolSize and MaxRetries may not be negative")
	}
	uo := &redis.UniversalOptions{
		Addrs:            append([]string{po.Addr}, opt.Addrs...),
		DB:               po.DB,
		Username:         po.Username,
		Password:         po.Password,
		SentinelPassword: opt.SentinelPassword,
		MasterName:       opt.MasterName,
		IsClusterMode:    opt.Cluster,
		TLSConfig:        po.TLSConfig,
		DialTimeout:      cmp.Or(opt.DialTimeout, limits.RedisTimeout),
		ReadTimeout:      cmp.Or(opt.ReadTimeout, limits.RedisTimeout),
		WriteTimeout:     cmp.Or(opt.WriteTimeout, limits.RedisTimeout),
		PoolTimeout:      cmp.Or(opt.ReadTimeout, limits.RedisTimeout),
		PoolSize:         cmp.Or(opt.PoolSize, limits.RedisPoolSize),
		MaxRetries:       opt.MaxRetries,
		DialerRetries:    1, // go-redis would redial 5 times per command while Redis is down
		// Honour the caller's deadline (the router's LookupTimeout) too.
		ContextTimeoutEnabled: true,
		DisableIdentity:       true, // CLIENT SETINFO is unknown before Redis 7.2
	}
	if uo.MaxRetries == 0 {
		uo.MaxRetries = -1 // go-redis: -1 disables retries, 0 would mean 3
	}
	if opt.TLS != nil {
		uo.TLSConfig = opt.TLS
	}
	if len(uo.Addrs) > 1 && uo.MasterName == "" {
		uo.IsClusterMode = true
	}
	if uo.IsClusterMode && uo.DB != 0 {
		return nil, fmt.Errorf("redisstore: Redis Cluster has no database %d", uo.DB)
	}
	return uo, nil
}

// Lookup returns the value of <Prefix><id>.
func (s *Store) Lookup(ctx context.Context, id string) (string, bool, error) {
	v, err := s.c.Get(ctx, s.prefix+id).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("redis: %w", err)
	}
	return v, true, nil
}

// Local reports false: lookups go over the network.
func (s *Store) Local() bool { return false }

// Set maps id to dest (no expiry).
func (s *Store) Set(ctx context.Context, id, dest string) error {
	if dest == "" {
		return errors.New("redisstore: empty destination")
	}
	if err := s.c.Set(ctx, s.prefix+id, dest, 0).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Delete removes id's mapping (no error when there is none).
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.c.Del(ctx, s.prefix+id).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Ping reports whether Redis answers (for startup and health reports).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Client returns the underlying go-redis client.
func (s *Store) Client() redis.UniversalClient { return s.c }

// Close closes the connections.
func (s *Store) Close() error { return s.c.Close() }

// String describes the store without credentials.
func (s *Store) String() string {
	return "redis prefix " + strconv.Quote(s.prefix)
}
