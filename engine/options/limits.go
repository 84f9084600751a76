package options

import (
	"time"

	"github.com/switchyard-mail/switchyard/limits"
)

// Limits are the reactor's caps and deadlines. Each is named once, here,
// with its default and its reason; docs/LIMITS.md lists them all and a
// test keeps that table in step with DefaultLimits.
type Limits struct {
	// FirstByteTimeout: a TLS client must start its ClientHello this soon
	// after connecting (or after a STARTTLS go-ahead). Until then it holds
	// no handshake slot.
	FirstByteTimeout time.Duration
	// HandshakeTimeout bounds a client TLS handshake, absolute.
	HandshakeTimeout time.Duration
	// ProxyHeaderTimeout bounds the wait for an optional PROXY header.
	ProxyHeaderTimeout time.Duration
	// MaxHandshakes caps client TLS handshakes in flight in the process;
	// MaxHandshakesPerListener on one listener; MaxHandshakesPerAddr from
	// one client address (an IPv6 /64).
	MaxHandshakes            int
	MaxHandshakesPerListener int
	MaxHandshakesPerAddr     int
	// OutputSoftCap: output waiting in the reactor for one peer past which
	// its sources stop being read until it drains below half of it.
	OutputSoftCap int
	// OutputHardCap: past this much unsent output the peer is not reading
	// and is closed.
	OutputHardCap int
	// PreauthInputCap: unconsumed client input a login connection may hold
	// (pipelined commands during a login, or while paused).
	PreauthInputCap int
	// RelayInputCap: the same for relayed sessions (SMTP, HTTP bodies).
	RelayInputCap int
	// BackendInputCap: unconsumed backend input a leg may hold.
	BackendInputCap int
	// FDReserve: descriptors kept free below RLIMIT_NOFILE for what does
	// not ask the budget (runtime, resolver, store pools, log files).
	FDReserve int
}

// DefaultLimits are the defaults of Limits (package limits names each,
// with its reason).
var DefaultLimits = Limits{
	FirstByteTimeout:         limits.FirstByteTimeout,
	HandshakeTimeout:         limits.HandshakeTimeout,
	ProxyHeaderTimeout:       limits.ProxyHeaderTimeout,
	MaxHandshakes:            limits.MaxHandshakes,
	MaxHandshakesPerListener: limits.MaxHandshakesPerListener,
	MaxHandshakesPerAddr:     limits.MaxHandshakesPerAddr,
	OutputSoftCap:            limits.OutputSoftCap,
	OutputHardCap:            limits.OutputHardCap,
	PreauthInputCap:          limits.PreauthInputCap,
	RelayInputCap:            limits.RelayInputCap,
	BackendInputCap:          limits.BackendInputCap,
	FDReserve:                limits.FDReserve,
}

// WithDefaults fills zero fields.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setD(&l.FirstByteTimeout, d.FirstByteTimeout)
	setD(&l.HandshakeTimeout, d.HandshakeTimeout)
	setD(&l.ProxyHeaderTimeout, d.ProxyHeaderTimeout)
	set(&l.MaxHandshakes, d.MaxHandshakes)
	set(&l.MaxHandshakesPerListener, min(d.MaxHandshakesPerListener, l.MaxHandshakes))
	set(&l.MaxHandshakesPerAddr, d.MaxHandshakesPerAddr)
	set(&l.OutputSoftCap, d.OutputSoftCap)
	set(&l.OutputHardCap, max(d.OutputHardCap, 2*l.OutputSoftCap))
	set(&l.PreauthInputCap, d.PreauthInputCap)
	set(&l.RelayInputCap, d.RelayInputCap)
	set(&l.BackendInputCap, d.BackendInputCap)
	set(&l.FDReserve, d.FDReserve)
	return l
}
