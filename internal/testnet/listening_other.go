//go:build !linux

package testnet

import (
	"net"
	"strconv"
	"time"
)

// notListening cannot tell whose listener it is outside Linux: a port
// that accepts counts.
func notListening(_ int, ports []int) ([]int, error) {
	var missing []int
	for _, p := range ports {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), time.Second)
		if err != nil {
			missing = append(missing, p)
			continue
		}
		c.Close()
	}
	return missing, nil
}
