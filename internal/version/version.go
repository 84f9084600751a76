// Package version says which switchyard this is: the module version, the
// VCS revision and time the binary was built from, and the Go version,
// read from the build information the Go toolchain embeds
// (runtime/debug.ReadBuildInfo). A build without VCS information (a
// source tarball, a container build without .git) can stamp the version
// with -ldflags "-X github.com/switchyard-mail/switchyard/internal/version.Version=1.2.3".
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Version, when set at link time, overrides the module version.
var Version string

// Info describes a build.
type Info struct {
	Version   string // "v1.2.3", "1.2.3" (stamped) or "devel"
	Revision  string // VCS revision, "" when unknown
	Time      string // VCS commit time (RFC 3339), "" when unknown
	Modified  bool   // the tree had uncommitted changes
	GoVersion string // "go1.26.8"
}

// Get reads the running binary's build information.
func Get() Info {
	info := Info{Version: "devel", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.time":
				info.Time = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if Version != "" {
		info.Version = Version
	}
	return info
}

// Short is the revision's first 12 characters, with "+dirty" for a tree
// that had uncommitted changes.
func (i Info) Short() string {
	r := i.Revision
	if len(r) > 12 {
		r = r[:12]
	}
	if i.Modified && r != "" {
		r += "+dirty"
	}
	return r
}

// String is the one line of `switchyard --version`:
// "switchyard v1.2.3 (revision 0123456789ab, built 2025-01-02T03:04:05Z, go1.26.8)".
func (i Info) String() string {
	var parts []string
	if r := i.Short(); r != "" {
		parts = append(parts, "revision "+r)
	}
	if i.Time != "" {
		parts = append(parts, "built "+i.Time)
	}
	parts = append(parts, i.GoVersion)
	return "switchyard " + i.Version + " (" + strings.Join(parts, ", ") + ")"
}
