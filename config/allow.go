package config

import (
	"fmt"
	"slices"

	"github.com/switchyard-mail/switchyard/config/check"
	"github.com/switchyard-mail/switchyard/config/source"
)

// HostPattern is one entry of admin.allow.destination_hosts (package
// check): a host name, "*.example.com", an IP address or a CIDR network.
type HostPattern = check.HostPattern

// ParseHostPattern reads one destination_hosts entry.
func ParseHostPattern(s string) (HostPattern, error) { return check.ParseHostPattern(s) }

// AllowsDestination says whether [admin.allow] lets the admin API point
// accounts at d: its host fits destination_hosts and every port it
// declares is in destination_ports (an empty list allows anything). why
// names what is not allowed.
func (a *AdminAllow) AllowsDestination(d Destination) (ok bool, why string) {
	if a == nil {
		return true, ""
	}
	if len(a.DestinationHosts) > 0 {
		fits := false
		for _, s := range a.DestinationHosts {
			if p, err := ParseHostPattern(s); err == nil && p.Match(d.Host) {
				fits = true
				break
			}
		}
		if !fits {
			return false, fmt.Sprintf("host %q is not in admin.allow.destination_hosts", d.Host)
		}
	}
	if len(a.DestinationPorts) > 0 {
		for _, p := range sortedKeys(d.Protocol) {
			if port := d.Protocol[p].Port; !slices.Contains(a.DestinationPorts, port) {
				return false, fmt.Sprintf("port %d (%s) is not in admin.allow.destination_ports", port, p)
			}
		}
	}
	return true, ""
}

// AllowsConfig says whether [admin.allow] lets the admin API put c in
// force (a reload it asks for): every destination allowed, every
// listener bound to a port of listener_ports. why names the first key
// that is not.
func (a *AdminAllow) AllowsConfig(c *Config) (ok bool, why string) {
	if a == nil {
		return true, ""
	}
	for _, id := range sortedKeys(c.Destination) {
		if ok, why := a.AllowsDestination(c.Destination[id]); !ok {
			return false, source.KeyPath("destination", id) + ": " + why
		}
	}
	if len(a.ListenerPorts) > 0 {
		for _, id := range sortedKeys(c.Listener) {
			for _, b := range c.Listener[id].Bind {
				ap, err := check.Bind(b)
				if err == nil && !slices.Contains(a.ListenerPorts, int(ap.Port())) {
					return false, fmt.Sprintf("%s: port %d is not in admin.allow.listener_ports", source.KeyPath("listener", id, "bind"), ap.Port())
				}
			}
		}
	}
	return true, ""
}
