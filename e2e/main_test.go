//go:build linux

package e2e

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RunCleanups()
	os.Exit(code)
}
