//go:build linux

package e2e

import (
	"os"
	"testing"

	"github.com/switchyard-mail/switchyard/e2e/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RunCleanups()
	os.Exit(code)
}
