package overrides

import (
	"os"
	"testing"

	"github.com/switchyard-mail/switchyard/config"
)

// TestMain validates against the whole schema, as config's tests do: the
// flags must make configurations every build could serve.
func TestMain(m *testing.M) {
	for _, p := range config.Protocols {
		if p != config.HTTP {
			config.Implemented.Protocols[p] = true
		}
	}
	config.Implemented.Cluster = true
	os.Exit(m.Run())
}
