// Package deploy holds the files that install switchyard (systemd/) and
// the tests that keep them, the Dockerfile and the example configurations
// honest: every examples/*.toml passes `switchyard --check-config` except
// for features not implemented yet, and the container's healthcheck works
// against a running switchyard.
package deploy
