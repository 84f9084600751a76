package drivers

import (
	"github.com/switchyard-mail/switchyard/engine"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
)

// Replay is what the back ends that forward with XCLIENT (pop3,
// managesieve, submission) are told: the engine's arguments to
// NewBackEnd, and the destination's hide_auth_errors.
func Replay(login *protocols.Login, dest *engine.Destination, startTLS bool, fwd *forward.Info) protocols.ReplayConfig {
	return protocols.ReplayConfig{Login: login, StartTLS: startTLS, Forward: fwd, HideAuthErrors: dest.HideAuthErrors}
}
