package router

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	aliases := map[string]string{"Alias.Example": "example.com", "old.example": "example.com"}
	tests := []struct {
		name string
		opt  Options
		in   string
		want string
	}{
		{"default lowercases", Options{}, "User@Example.COM", "user@example.com"},
		{"lowercase unicode", Options{Normalize: "lowercase"}, "ÉLODIE@Exemple.FR", "élodie@exemple.fr"},
		{"none keeps case", Options{Normalize: "none"}, "User@Example.COM", "User@Example.COM"},
		{"detail kept by default", Options{}, "user+tag@example.com", "user+tag@example.com"},
		{"strip detail", Options{StripDetail: true}, "User+Tag@example.com", "user@example.com"},
		{"strip detail bare name", Options{StripDetail: true}, "user+tag", "user"},
		{"strip detail only first plus", Options{StripDetail: true}, "a+b+c@example.com", "a@example.com"},
		{"strip detail leading plus kept", Options{StripDetail: true}, "+tag@example.com", "+tag@example.com"},
		{"strip detail plus in domain kept", Options{StripDetail: true}, "user@ex+ample.com", "user@ex+ample.com"},
		{"strip detail with none", Options{Normalize: "none", StripDetail: true}, "User+X@Ex.com", "User@Ex.com"},
		{"alias", Options{DomainAliases: aliases}, "user@ALIAS.example", "user@example.com"},
		{"alias second", Options{DomainAliases: aliases}, "user@old.example", "user@example.com"},
		{"alias not a suffix match", Options{DomainAliases: aliases}, "user@sub.old.example", "user@sub.old.example"},
		{"alias needs domain", Options{DomainAliases: aliases}, "old.example", "old.example"},
		{"alias and detail", Options{StripDetail: true, DomainAliases: aliases}, "U+x@Old.Example", "u@example.com"},
		{"alias case-sensitive with none", Options{Normalize: "none", DomainAliases: aliases}, "u@alias.example", "u@alias.example"},
		{"alias exact with none", Options{Normalize: "none", DomainAliases: aliases}, "u@Alias.Example", "u@example.com"},
		{"empty", Options{}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.PositiveTTL, tc.opt.NegativeTTL = NoCache, NoCache // no 16 MiB cache per case
			r, err := New(tc.opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := r.Normalize(tc.in)
			if got != tc.want {
				t.Fatalf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := r.Normalize(got); again != got {
				t.Fatalf("not idempotent: %q -> %q", got, again)
			}
			f, err := NewNormalizer(tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if f(tc.in) != tc.want {
				t.Fatalf("NewNormalizer disagrees: %q", f(tc.in))
			}
		})
	}
}

func TestNormalizeNoAllocWhenCanonical(t *testing.T) {
	r, err := New(Options{StripDetail: true, DomainAliases: map[string]string{"a.example": "b.example"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := "user@b.example"
	if n := testing.AllocsPerRun(100, func() { _ = r.Normalize(id) }); n != 0 {
		t.Fatalf("Normalize of a canonical id allocates %v times", n)
	}
}

func TestNormalizeOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opt  Options
		want string
	}{
		{"unknown mode", Options{Normalize: "upper"}, `Options.Normalize: unknown mode "upper"`},
		{"alias chain", Options{DomainAliases: map[string]string{"a.ex": "b.ex", "b.ex": "c.ex"}}, "is itself an alias"},
		{"alias self", Options{DomainAliases: map[string]string{"A.ex": "a.ex"}}, "alias of itself"},
		{"alias conflict", Options{DomainAliases: map[string]string{"A.ex": "b.ex", "a.ex": "c.ex"}}, "aliased to both"},
		{"alias empty target", Options{DomainAliases: map[string]string{"a.ex": ""}}, "empty domain"},
		{"alias with at", Options{DomainAliases: map[string]string{"u@a.ex": "b.ex"}}, "not a domain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opt, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// FuzzNormalize checks that normalization is idempotent, so that a store
// normalizing its keys on load and the router normalizing on lookup agree.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"User@Example.COM", "a+b@OLD.example", "+x@y", "İSTANBUL@x", "\xff@A", "a@b@c+d", ""} {
		f.Add(s)
	}
	aliases := map[string]string{"old.example": "example.com", "Alias.Example": "example.com"}
	var routers []*Router
	for _, opt := range []Options{
		{},
		{Normalize: "none"},
		{StripDetail: true, DomainAliases: aliases},
		{Normalize: "none", StripDetail: true, DomainAliases: aliases},
	} {
		opt.PositiveTTL, opt.NegativeTTL = NoCache, NoCache
		r, err := New(opt, nil)
		if err != nil {
			f.Fatal(err)
		}
		routers = append(routers, r)
	}
	f.Fuzz(func(t *testing.T, id string) {
		for i, r := range routers {
			n := r.Normalize(id)
			if again := r.Normalize(n); again != n {
				t.Fatalf("router %d: Normalize(%q) = %q but Normalize(%q) = %q", i, id, n, n, again)
			}
		}
	})
}
