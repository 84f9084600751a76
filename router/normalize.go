package router

import (
	"fmt"
	"strings"

	"github.com/switchyard-mail/switchyard/limits"
)

// Normalization modes for Options.Normalize.
const (
	NormalizeNone      = "none"
	NormalizeLowercase = "lowercase"
)

// MaxIdentifierLen is the longest normalized identifier the router accepts,
// in bytes. Longer identifiers are refused with ErrInvalidIdentifier so that
// a hostile login name cannot make the cache or a store do unbounded work.
const MaxIdentifierLen = limits.MaxIdentifierLen

// normalizer turns a login name into the form used as cache key and store key.
// It is immutable after construction and safe for concurrent use.
type normalizer struct {
	lower       bool
	stripDetail bool
	aliases     map[string]string // alias domain -> canonical domain, both normalized
}

func newNormalizer(opt Options) (*normalizer, error) {
	n := &normalizer{stripDetail: opt.StripDetail}
	switch opt.Normalize {
	case "", NormalizeLowercase:
		n.lower = true
	case NormalizeNone:
	default:
		return nil, fmt.Errorf("router: Options.Normalize: unknown mode %q (want %q or %q)",
			opt.Normalize, NormalizeNone, NormalizeLowercase)
	}
	if len(opt.DomainAliases) > 0 {
		n.aliases = make(map[string]string, len(opt.DomainAliases))
		for alias, target := range opt.DomainAliases {
			a, t := n.domain(alias), n.domain(target)
			if err := checkDomain(a); err != nil {
				return nil, fmt.Errorf("router: Options.DomainAliases: alias %q: %v", alias, err)
			}
			if err := checkDomain(t); err != nil {
				return nil, fmt.Errorf("router: Options.DomainAliases[%q]: target %q: %v", alias, target, err)
			}
			if a == t {
				return nil, fmt.Errorf("router: Options.DomainAliases[%q]: domain is an alias of itself", alias)
			}
			if prev, dup := n.aliases[a]; dup && prev != t {
				return nil, fmt.Errorf("router: Options.DomainAliases: %q is aliased to both %q and %q", a, prev, t)
			}
			n.aliases[a] = t
		}
		// A target that is itself an alias would make normalization depend on
		// how often it is applied; refuse chains instead of guessing.
		for a, t := range n.aliases {
			if _, chained := n.aliases[t]; chained {
				return nil, fmt.Errorf("router: Options.DomainAliases[%q]: target %q is itself an alias", a, t)
			}
		}
	}
	return n, nil
}

func checkDomain(d string) error {
	switch {
	case d == "":
		return fmt.Errorf("empty domain")
	case strings.ContainsAny(d, "@ \t\r\n"):
		return fmt.Errorf("not a domain")
	}
	return nil
}

func (n *normalizer) domain(d string) string {
	if n.lower {
		return strings.ToLower(d)
	}
	return d
}

// normalize returns id in canonical form. It does not allocate when id is
// already canonical.
func (n *normalizer) normalize(id string) string {
	s := id
	if n.lower {
		s = strings.ToLower(s) // returns s itself when nothing changes
	}
	if n.stripDetail {
		s = stripDetail(s)
	}
	if n.aliases != nil {
		if at := strings.LastIndexByte(s, '@'); at >= 0 {
			if canon, ok := n.aliases[s[at+1:]]; ok {
				s = s[:at+1] + canon
			}
		}
	}
	return s
}

// stripDetail removes a sub-address ("+tag") from the local part:
// user+tag@example.com -> user@example.com, user+tag -> user. A local part
// that starts with '+' is left alone: stripping would leave it empty.
func stripDetail(s string) string {
	local := s
	at := strings.LastIndexByte(s, '@')
	if at >= 0 {
		local = s[:at]
	}
	p := strings.IndexByte(local, '+')
	if p <= 0 {
		return s
	}
	if at < 0 {
		return s[:p]
	}
	return s[:p] + s[at:]
}
