//go:build !linux

package imapload

import "syscall"

func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
