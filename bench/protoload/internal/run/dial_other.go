//go:build !linux

package run

import "syscall"

func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
