package engine

import (
	"testing"
	"unsafe"

	"github.com/switchyard-mail/switchyard/engine/login"
	"github.com/switchyard-mail/switchyard/engine/relay"
)

// What every idle connection holds, against the heap's size classes it
// must stay in (BENCHMARKS.md counts bytes per idle connection): a field
// added in the wrong place moves a connection to the next class.
func TestPerConnectionSizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, max uintptr
	}{
		{"conn", unsafe.Sizeof(conn{}), 256},
		{"login.Session", unsafe.Sizeof(login.Session{}), 112},
		{"relay.Session", unsafe.Sizeof(relay.Session{}), 80},
	} {
		if tc.size > tc.max {
			t.Errorf("%s is %d bytes, over its %d-byte size class", tc.name, tc.size, tc.max)
		}
	}
}
