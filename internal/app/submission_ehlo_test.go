package app

import (
	"testing"

	"github.com/switchyard-mail/switchyard/config"
)

// TestEHLOTarget: the submission driver asks the default destination's
// submission service at start (health.EHLO, tested there), reached as the
// engine's legs reach it.
func TestEHLOTarget(t *testing.T) {
	c := config.Default()
	if _, ok, err := ehloTarget(c); ok || err != nil {
		t.Fatalf("no default destination: %v %v", ok, err)
	}
	c.Destination = map[string]config.Destination{
		"mx":   {Host: "127.0.0.1", Forwarding: config.ForwardProxy, Protocol: map[config.Protocol]config.Endpoint{config.Submission: {Port: 587, TLS: config.TLSPlain}}},
		"tls":  {Host: "mx.test", Protocol: map[config.Protocol]config.Endpoint{config.Submission: {Port: 465, TLS: config.TLSImplicit}}},
		"imap": {Host: "127.0.0.1", Protocol: map[config.Protocol]config.Endpoint{config.IMAP: {Port: 143}}},
	}
	c.Routing.DefaultDestination = "imap"
	if _, ok, err := ehloTarget(c); ok || err != nil {
		t.Fatalf("no submission service: %v %v", ok, err)
	}
	c.Routing.DefaultDestination = "mx"
	tg, ok, err := ehloTarget(c)
	if !ok || err != nil || tg.Addr != "127.0.0.1:587" || !tg.ProxyHeader || tg.TLS != nil {
		t.Fatalf("mx: %+v %v %v", tg, ok, err)
	}
	c.Routing.DefaultDestination = "tls"
	tg, ok, err = ehloTarget(c)
	if !ok || err != nil || tg.Addr != "mx.test:465" || tg.ProxyHeader || tg.TLS == nil || tg.TLS.ServerName != "mx.test" {
		t.Fatalf("tls: %+v %v %v", tg, ok, err)
	}
}
