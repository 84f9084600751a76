//go:build !linux

package testnet

import "net"

// Elsewhere the port of a closed listener is the best there is: another
// process may take it before the test is done.
func refusing() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	return addr, func() {}, nil
}
