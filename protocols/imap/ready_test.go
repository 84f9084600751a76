package imap

import (
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

func TestGreetingReady(t *testing.T) {
	prototest.CheckGreetingReady(t, GreetingReady,
		[]string{"* OK [CAPABILITY IMAP4rev1] ready\r\n", "* OK ready"},
		[]string{"* PREAUTH logged in\r\n", "* BYE too many\r\n", "+OK\r\n", ""})
}
