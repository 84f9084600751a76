// Package sdnotify tells systemd how the service is doing, for
// Type=notify units: READY=1 once it serves, RELOADING=1 and READY=1
// around a reload, STOPPING=1 at shutdown, STATUS= a line for
// `systemctl status`. The protocol is one datagram of newline-separated
// assignments to the unix socket named by $NOTIFY_SOCKET (a path, or an
// abstract address starting with '@'); see sd_notify(3). Without
// $NOTIFY_SOCKET (not run by systemd) there is nothing to tell and every
// call does nothing.
package sdnotify

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Notifier sends to one socket. The zero value and nil send nothing.
type Notifier struct {
	addr *net.UnixAddr
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET, or nil when it is unset.
// It unsets the variable, as sd_notify's unset_environment does, so that
// programs this process starts do not talk to systemd in its name.
func FromEnv() (*Notifier, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil, nil
	}
	_ = os.Unsetenv("NOTIFY_SOCKET")
	return New(path)
}

// New returns a Notifier for the socket at path ("@name" for an abstract
// address).
func New(path string) (*Notifier, error) {
	if path[0] != '/' && path[0] != '@' {
		return nil, errors.New("sdnotify: NOTIFY_SOCKET " + strconv.Quote(path) + " is neither a path nor an abstract address")
	}
	return &Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}, nil
}

// Send sends the assignments, e.g. Send("READY=1", "STATUS=serving").
func (n *Notifier) Send(state ...string) error {
	if n == nil || n.addr == nil || len(state) == 0 {
		return nil
	}
	for _, s := range state {
		if strings.ContainsRune(s, '\n') {
			return errors.New("sdnotify: a line holds a newline: " + strconv.Quote(s))
		}
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(strings.Join(state, "\n") + "\n"))
	return err
}

// Ready says the service serves; status is shown by systemctl.
func (n *Notifier) Ready(status string) error {
	return n.Send("READY=1", "STATUS="+status)
}

// Reloading says a reload starts. Since systemd 253 the message carries
// the CLOCK_MONOTONIC time, as the protocol asks; Ready ends it.
func (n *Notifier) Reloading() error {
	return n.Send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(monotonicUsec(), 10))
}

// Stopping says the service is shutting down.
func (n *Notifier) Stopping(status string) error {
	return n.Send("STOPPING=1", "STATUS="+status)
}

// Status updates the line systemctl status shows.
func (n *Notifier) Status(status string) error { return n.Send("STATUS=" + status) }

func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Sec*1_000_000 + ts.Nsec/1000
}
