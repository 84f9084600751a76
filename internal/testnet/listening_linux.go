package testnet

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// notListening returns the ports of ports on which pid has no listening
// 127.0.0.1 socket, from /proc/net/tcp (the socket's inode) and
// /proc/PID/fd (the descriptors that hold it).
func notListening(pid int, ports []int) ([]int, error) {
	inodes, err := listenInodes()
	if err != nil {
		return nil, err
	}
	held, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	var missing []int
	for _, p := range ports {
		ino, ok := inodes[p]
		if !ok || !held[ino] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// listenInodes maps each port with a 127.0.0.1 listener to its socket's
// inode.
func listenInodes() (map[int]string, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[int]string{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[3] != "0A" { // TCP_LISTEN
			continue
		}
		host, port, ok := strings.Cut(fs[1], ":")
		if !ok || host != "0100007F" { // 127.0.0.1, in host byte order
			continue
		}
		p, err := strconv.ParseUint(port, 16, 16)
		if err != nil {
			continue
		}
		out[int(p)] = fs[9]
	}
	return out, sc.Err()
}

// socketInodes is the set of socket inodes pid holds descriptors for.
func socketInodes(pid int) (map[string]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil // exited: it holds nothing
	}
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			out[strings.TrimSuffix(ino, "]")] = true
		}
	}
	return out, nil
}
