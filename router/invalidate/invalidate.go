// Package invalidate keeps the caches of several router instances in step:
// a mapping written on one instance is announced on a Bus, and every
// instance subscribed to it drops its cached answers for those accounts.
//
// Implementations: redisstore.Bus (Redis pub/sub) and sqlstore.PGBus
// (PostgreSQL LISTEN/NOTIFY). Messages are text (Encode, Decode) so that
// both carry them unchanged.
package invalidate

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/switchyard-mail/switchyard/router"
)

// Bus carries invalidations between instances.
type Bus interface {
	// Publish announces that the given identifiers changed; no identifiers
	// means "everything changed".
	Publish(ctx context.Context, ids ...string) error
	// Subscribe calls fn for every announcement until ctx ends, in the
	// background (it returns at once). fn gets nil for "everything":
	// that is also what it gets whenever the subscription is established
	// or re-established after a gap in which announcements may have been
	// lost, the first time included. fn is called from one goroutine at
	// a time.
	Subscribe(ctx context.Context, fn func(ids []string)) error
}

// Attach subscribes r to bus: every announcement invalidates the named
// identifiers in r's cache (all of them for "everything").
func Attach(ctx context.Context, bus Bus, r *router.Router) error {
	return bus.Subscribe(ctx, func(ids []string) {
		if len(ids) == 0 {
			r.InvalidateAll()
			return
		}
		r.Invalidate(ids...)
	})
}

// Writer is a store that accepts writes (the admin API's view of it).
type Writer interface {
	Set(ctx context.Context, id, dest string) error
	Delete(ctx context.Context, id string) error
}

// Set writes a mapping to the store, drops it from the local router's cache
// and announces it to the other instances. The id is normalized with r's
// rules first. A failed announcement is returned (the write itself stands:
// other instances see it when their cache entry expires).
func Set(ctx context.Context, w Writer, r *router.Router, bus Bus, id, dest string) error {
	n := r.Normalize(id)
	if err := w.Set(ctx, n, dest); err != nil {
		return err
	}
	return announce(ctx, r, bus, n)
}

// Delete removes a mapping like Set writes one.
func Delete(ctx context.Context, w Writer, r *router.Router, bus Bus, id string) error {
	n := r.Normalize(id)
	if err := w.Delete(ctx, n); err != nil {
		return err
	}
	return announce(ctx, r, bus, n)
}

// BatchWriter is a Writer that stores many mappings at once, all or
// nothing (filestore through its adapter, sqlstore, redisstore).
type BatchWriter interface {
	SetMany(ctx context.Context, pairs []router.Mapping) error
}

// BatchError names the pair of a SetMany that failed.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return "pair " + strconv.Itoa(e.Index) + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *BatchError) Unwrap() error { return e.Err }

// SetMany writes every pair (identifiers already normalized with r's
// rules) and returns how many are written: with a BatchWriter all of them
// or none; with another Writer one at a time, stopping at the first
// failure (a *BatchError naming it). The written identifiers are then
// dropped from r's cache and announced on bus at once. written ==
// len(pairs) with an error means only the announcement failed.
func SetMany(ctx context.Context, w Writer, r *router.Router, bus Bus, pairs []router.Mapping) (written int, err error) {
	if bw, ok := w.(BatchWriter); ok {
		if err := bw.SetMany(ctx, pairs); err != nil {
			return 0, err
		}
		written = len(pairs)
	} else {
		for i, p := range pairs {
			if err = w.Set(ctx, p.Identifier, p.Destination); err != nil {
				err = &BatchError{Index: i, Err: err}
				break
			}
			written++
		}
	}
	if written == 0 {
		return 0, err
	}
	ids := make([]string, written)
	for i := range ids {
		ids[i] = pairs[i].Identifier
	}
	r.Invalidate(ids...)
	if bus != nil {
		if perr := bus.Publish(ctx, ids...); perr != nil && err == nil {
			err = perr
		}
	}
	return written, err
}

func announce(ctx context.Context, r *router.Router, bus Bus, n string) error {
	r.Invalidate(n)
	if bus == nil {
		return nil
	}
	return bus.Publish(ctx, n)
}

// Message format, version 1: "sy1" followed by one space-separated field
// per identifier, each percent-encoded so that a message is printable
// ASCII; "sy1 *" means everything.
const (
	prefix = "sy1"
	all    = prefix + " *"
	// MaxMessage bounds one encoded message (PostgreSQL's NOTIFY payload
	// limit is 8000 bytes).
	MaxMessage = 7900
)

// ErrBadMessage is returned by Decode for text that is not a message.
var ErrBadMessage = errors.New("invalidate: malformed message")

// Encode returns the messages announcing ids (several when they do not fit
// in MaxMessage bytes; one "everything" message for no ids).
func Encode(ids ...string) []string {
	if len(ids) == 0 {
		return []string{all}
	}
	var (
		out []string
		b   strings.Builder
	)
	b.WriteString(prefix)
	for _, id := range ids {
		e := escape(id)
		if b.Len() > len(prefix) && b.Len()+1+len(e) > MaxMessage {
			out = append(out, b.String())
			b.Reset()
			b.WriteString(prefix)
		}
		b.WriteByte(' ')
		b.WriteString(e)
	}
	return append(out, b.String())
}

// Decode parses one message: nil ids mean everything.
func Decode(msg string) (ids []string, err error) {
	if msg == all {
		return nil, nil
	}
	rest, ok := strings.CutPrefix(msg, prefix+" ")
	if !ok || rest == "" {
		return nil, ErrBadMessage
	}
	for f := range strings.SplitSeq(rest, " ") {
		id, ok := unescape(f)
		if !ok {
			return nil, ErrBadMessage
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// plain reports the bytes written as themselves.
func plain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '@' || c == '.' || c == '_' || c == '-' || c == '+'
}

const hexDigits = "0123456789ABCDEF"

func escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !plain(s[i]) {
			n++
		}
	}
	if n == 0 && s != "" {
		return s
	}
	if s == "" {
		return "%" // an empty identifier: a lone "%" (never a valid escape)
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(b)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func unescape(f string) (string, bool) {
	if f == "%" {
		return "", true
	}
	if f == "" {
		return "", false
	}
	b := make([]byte, 0, len(f))
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case plain(c):
			b = append(b, c)
		case c == '%' && i+2 < len(f):
			hi, ok1 := unhex(f[i+1])
			lo, ok2 := unhex(f[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			b = append(b, hi<<4|lo)
			i += 2
		default:
			return "", false
		}
	}
	return string(b), true
}
