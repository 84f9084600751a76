package config

import (
	"testing"

	"github.com/switchyard-mail/switchyard/config/internal/configtest"
)

func writeKeyPair(t testing.TB, dir, name string) (certFile, keyFile string) {
	return configtest.WriteKeyPair(t, dir, name)
}

func writeFile(t testing.TB, path, content string) { configtest.WriteFile(t, path, content) }

func readFile(t testing.TB, path string) []byte { return configtest.ReadFile(t, path) }

// fieldErrors flattens the error Validate or Parse returned.
func fieldErrors(t testing.TB, err error) []*FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		t.Fatalf("error is not a *FieldError: %T %v", e, e)
	}
	walk(err)
	return out
}

// mustParse parses doc, failing the test on error.
func mustParse(t testing.TB, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc), "test.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// fixture is configtest.Fixture under the names these tests use.
type fixture struct {
	dir, cert, key, mapping, token string
	*configtest.Fixture
}

func newFixture(t testing.TB) *fixture {
	f := configtest.New(t)
	return &fixture{f.Dir, f.Cert, f.Key, f.Mapping, f.Token, f}
}

func (f *fixture) expand(doc string) string { return f.Expand(doc) }

const baseDoc = configtest.BaseDoc
