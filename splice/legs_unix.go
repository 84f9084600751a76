//go:build unix

package splice

import (
	"errors"

	"golang.org/x/sys/unix"
)

func checkLegs(legs ...Leg) error {
	for _, leg := range legs {
		if leg.FD < 0 {
			return errors.New("splice: leg without a descriptor")
		}
		if (leg.TLS == nil) != (leg.Transport == nil) {
			return errors.New("splice: a TLS leg needs both TLS and Transport")
		}
	}
	if legs[0].FD == legs[1].FD {
		return errors.New("splice: both legs have the same descriptor")
	}
	return nil
}

func closeLegs(legs ...Leg) {
	for i, leg := range legs {
		if leg.FD >= 0 && (i == 0 || leg.FD != legs[0].FD) {
			unix.Close(leg.FD)
		}
	}
}
