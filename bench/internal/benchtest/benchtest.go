// Package benchtest holds what the tests of the bench packages share.
package benchtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// JSON writes a result with write (its WriteJSON) to a file under
// t.TempDir and reads it back: the document as a map, and its bytes for
// failure messages. A write or parse error fails the test.
func JSON(t testing.TB, write func(path string) error) (map[string]any, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.json")
	if err := write(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("json %v: %s", err, b)
	}
	return m, b
}

// Listen starts a mock backend with listen (its package's Listen) on
// 127.0.0.1:0 and closes it when the test ends; an error fails the test.
func Listen[S interface{ Close() error }, C any](t testing.TB, listen func(addr string, cfg C) (S, error), cfg C) S {
	t.Helper()
	s, err := listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
