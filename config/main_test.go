package config

import (
	"os"
	"testing"
)

// TestMain validates against the whole schema, as if every feature were
// built: these tests are about the schema's rules. What this build really
// serves is checked by TestNotSupportedYet and by internal/app.
func TestMain(m *testing.M) {
	for _, p := range Protocols {
		if p != HTTP {
			Implemented.Protocols[p] = true
		}
	}
	Implemented.Cluster = true
	os.Exit(m.Run())
}
