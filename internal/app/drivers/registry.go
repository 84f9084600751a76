// Package drivers builds the engine's protocol drivers from the
// configuration: one file per protocol, each registering itself.
package drivers

import (
	"os"
	"sync"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine/options"
)

// A protocol is served when its driver is registered here (from an init
// function, one file per protocol; internal/app registers submission).
// Registering also tells config validation that the protocol is supported
// by this build.
var (
	mu       sync.Mutex
	builders = map[config.Protocol]func(*config.Config) options.Driver{}
)

// Register makes p served by the drivers build returns.
func Register(p config.Protocol, build func(*config.Config) options.Driver) {
	mu.Lock()
	defer mu.Unlock()
	builders[p] = build
	config.Implemented.Protocols[p] = true
}

// Builder returns how to build p's driver, or nil when this build does not
// serve p.
func Builder(p config.Protocol) func(*config.Config) options.Driver {
	mu.Lock()
	defer mu.Unlock()
	return builders[p]
}

// ServerHostname is the name SMTP and LMTP greet with. [server] hostname
// empty means the local address the client connected to, which a driver is
// not told: the machine's name is the closest stable answer.
func ServerHostname(c *config.Config) string {
	if c.Server.Hostname != "" {
		return c.Server.Hostname
	}
	h, _ := os.Hostname()
	return h
}
