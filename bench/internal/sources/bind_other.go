//go:build !linux

package sources

import "syscall"

func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
