package app

import (
	"sync"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine"
)

// A protocol is served when its driver is registered here (from an init
// function in this package, one file per protocol). Registering also tells
// config validation that the protocol is supported by this build.
var (
	driversMu sync.Mutex
	drivers   = map[config.Protocol]func(*config.Config) engine.Driver{}
)

func registerDriver(p config.Protocol, build func(*config.Config) engine.Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	drivers[p] = build
	config.Implemented.Protocols[p] = true
}

func init() {
	registerDriver(config.IMAP, func(c *config.Config) engine.Driver { return newIMAPDriver(c) })
	// Stores and the cluster ring wired in buildRouter.
	for _, s := range []config.MappingSource{config.SourceRedis, config.SourceSQL, config.SourcePostgreSQL, config.SourceMySQL, config.SourceSQLite} {
		config.Implemented.MappingSources[s] = true
	}
	config.Implemented.Cluster = true
}
