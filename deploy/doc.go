// Package deploy holds the files that install switchyard and the tests
// that keep them, the Dockerfile and the example configurations honest:
// systemd/ (the Type=notify unit, its sysusers.d and tmpfiles.d snippets),
// man/ (the manual page), debian/ (the package's control file and
// maintainer scripts; scripts/build-deb.sh and `make deb` assemble the
// package with dpkg-deb). Every examples/*.toml passes `switchyard
// --check-config`, has [admin] and keeps its mapping file under
// /var/lib/switchyard; the container's healthcheck works against a running
// switchyard. The installed package is checked end to end by
// e2e.TestDebianPackage (CI installs it).
package deploy
