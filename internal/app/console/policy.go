package console

import (
	"fmt"

	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/config"
)

// What the admin API may change ([admin] config_write and [admin.allow]).
// The boot configuration's [admin] is the one in force: a reload does not
// change [admin] (it is reported as needing a restart), so a reload
// cannot widen what the API may do.

// allowConfigWrite refuses, for the API, a change of the configuration in
// force when admin.config_write is false.
func (a *Backend) AllowConfigWrite(what string) error {
	if a.deps.Cfg.Admin.CanWriteConfig() {
		return nil
	}
	return fmt.Errorf("%w: %s: admin.config_write = false", backend.ErrNotAllowed, what)
}

// allowDestination refuses, for the API, a mapping to a destination
// outside [admin.allow] (its host and every port it declares).
func (a *Backend) allowDestination(rt Runtime, dest string) error {
	if a.deps.Cfg.Admin == nil || a.deps.Cfg.Admin.Allow == nil {
		return nil
	}
	d, ok := rt.Cfg.Destination[dest]
	if !ok {
		return backend.ErrUnknownDestination
	}
	if ok, why := a.deps.Cfg.Admin.Allow.AllowsDestination(d); !ok {
		return fmt.Errorf("%w: destination %q: %s", backend.ErrNotAllowed, dest, why)
	}
	return nil
}

// allowReload refuses, for the API, a configuration [admin.allow] does not
// allow to be put in force.
func (a *Backend) AllowReload(next *config.Config) error {
	if a.deps.Cfg.Admin == nil {
		return nil
	}
	if ok, why := a.deps.Cfg.Admin.Allow.AllowsConfig(next); !ok {
		return fmt.Errorf("%w: %s", backend.ErrNotAllowed, why)
	}
	return nil
}
