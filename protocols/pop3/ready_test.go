package pop3

import (
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

func TestGreetingReady(t *testing.T) {
	prototest.CheckGreetingReady(t, GreetingReady,
		[]string{"+OK Dovecot ready.\r\n", "+OK"},
		[]string{"-ERR no\r\n", "* OK\r\n", ""})
}
