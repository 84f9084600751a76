//go:build !linux

package protoload

import "syscall"

func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
