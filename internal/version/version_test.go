package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	i := Info{Version: "v1.2.3", Revision: "0123456789abcdef0123", Time: "2025-01-02T03:04:05Z", Modified: true, GoVersion: "go1.26.8"}
	if got, want := i.String(), "switchyard v1.2.3 (revision 0123456789ab+dirty, built 2025-01-02T03:04:05Z, go1.26.8)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := (Info{Version: "devel", GoVersion: "go1.26.8"}).String(), "switchyard devel (go1.26.8)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestGet(t *testing.T) {
	defer func(v string) { Version = v }(Version)
	Version = ""
	i := Get()
	if i.GoVersion != runtime.Version() || i.Version == "" {
		t.Fatalf("Get() = %+v", i)
	}
	Version = "9.9.9"
	if i := Get(); i.Version != "9.9.9" || !strings.HasPrefix(i.String(), "switchyard 9.9.9 (") {
		t.Fatalf("stamped: %+v", i)
	}
}
