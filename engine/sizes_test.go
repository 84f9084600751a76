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
	within := func(what string, size, class uintptr) {
		if size > class {
			t.Errorf("%s is %d bytes, over its %d-byte size class", what, size, class)
		}
	}
	within("conn", unsafe.Sizeof(conn{}), 256)
	within("login.Session", unsafe.Sizeof(login.Session{}), 112)
	within("relay.Session", unsafe.Sizeof(relay.Session{}), 80)
}
