package smtp

import (
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

func TestGreetingReady(t *testing.T) {
	prototest.CheckGreetingReady(t, GreetingReady,
		[]string{"220 mx ESMTP\r\n", "220-mx ESMTP\r\n"},
		[]string{"421 busy\r\n", "554 no service\r\n", ""})
}
