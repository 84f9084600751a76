package smtprelay

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
)

var (
	relayCfg  = RelayConfig{Hostname: "mx.example.com"}
	lmtpCfg   = RelayConfig{Hostname: "lmtp.example.com", LMTP: true}
	twoRoutes = map[string]string{
		"alice@a.example": "A", "bob@a.example": "A", "carol@b.example": "B",
		"temp@x.example": "?", "bad@a.example": "A",
	}
)

// Backend replies used throughout.
const (
	bGreeting = "220 a.backend ESMTP Postfix\r\n"
	bEHLO     = "250-a.backend\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n"
	bLHLO     = "250-a.backend\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
)

// openTransaction runs EHLO, MAIL and a first RCPT to alice (destination
// A) through the backend handshake, up to the RCPT reply.
func openTransaction(e *relayEngine) {
	e.t.Helper()
	e.client("EHLO client.example\r\nMAIL FROM:<s@c.example>\r\nRCPT TO:<alice@a.example>\r\n")
	e.takeClient()
	e.expect(nil, "", "route alice@a.example", "connect A")
	postfixLeg(e, "MAIL FROM:<s@c.example>\r\n")
	e.expect([]string{"250 2.1.5 Ok"}, "")
}

// postfixLeg answers a new leg to A as Postfix does, one command at a
// time, up to alice's RCPT: greeting, EHLO, mail (the MAIL command the
// relay must send), RCPT.
func postfixLeg(e *relayEngine, mail string) {
	e.t.Helper()
	e.backend(bGreeting)
	e.expect(nil, "EHLO mx.example.com\r\n")
	e.backend(bEHLO)
	e.expect(nil, mail)
	e.backend("250 2.1.0 Ok\r\n")
	e.expect(nil, "RCPT TO:<alice@a.example>\r\n")
	e.backend("250 2.1.5 Ok\r\n")
}

// openLMTPData sends an LMTP transaction for alice and bob (both on A) up
// to DATA, then more, and has the backend accept all of it up to its 354;
// what the client and the engine saw so far is dropped.
func openLMTPData(e *relayEngine, more string) {
	e.t.Helper()
	e.client("LHLO m\r\nMAIL FROM:<s@c>\r\nRCPT TO:<alice@a.example>\r\nRCPT TO:<bob@a.example>\r\nDATA\r\n" + more)
	for _, reply := range []string{"220 a LMTP\r\n" + bLHLO + "250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n", "250 2.1.5 Ok\r\n", "354 go\r\n"} {
		e.backend(reply)
	}
	e.takeClient()
	e.TakeSent()
	e.TakeEvents()
}

func TestRelayGreetingAndEHLO(t *testing.T) {
	cfg := RelayConfig{Hostname: "mx.example.com", StartTLS: true, MaxMessageSize: 1000, Banner: "relay"}
	relayModes(t, cfg, nil, func(e *relayEngine) {
		e.client("EHLO c.example\r\nHELO c2\r\nLHLO c3\r\nNOOP\r\nHELP\r\n")
		e.expect([]string{
			"220 mx.example.com ESMTP relay",
			"250-mx.example.com", "250-PIPELINING", "250-SIZE 1000", "250-8BITMIME", "250-SMTPUTF8",
			"250-ENHANCEDSTATUSCODES", "250 STARTTLS",
			"250 mx.example.com",
			"502 5.5.2 Error: command not recognized",
			"250 2.0.0 Ok",
			"214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS",
		}, "")
		e.client("STARTTLS\r\nEHLO dropped\r\n")
		e.expect([]string{"220 2.0.0 Ready to start TLS"}, "", "starttls")
		e.client("MAIL FROM:<a@b>\r\nEHLO c.example\r\nSTARTTLS\r\n")
		e.expect([]string{
			"503 5.5.1 Error: send HELO/EHLO first",
			"250-mx.example.com", "250-PIPELINING", "250-SIZE 1000", "250-8BITMIME", "250-SMTPUTF8",
			"250 ENHANCEDSTATUSCODES",
			"554 5.5.1 Error: TLS already active",
		}, "")
	})
	relayModes(t, RelayConfig{TLSActive: true}, nil, func(e *relayEngine) {
		e.client("EHLO c\r\nSTARTTLS\r\n")
		e.expect([]string{
			"220 localhost ESMTP",
			"250-localhost", "250-PIPELINING", "250-SIZE", "250-8BITMIME", "250-SMTPUTF8", "250 ENHANCEDSTATUSCODES",
			"554 5.5.1 Error: TLS already active",
		}, "")
	})
	relayModes(t, RelayConfig{}, nil, func(e *relayEngine) {
		e.client("STARTTLS\r\n")
		e.expect([]string{"220 localhost ESMTP", "502 5.5.1 Error: STARTTLS not available"}, "")
	})
	relayModes(t, RelayConfig{LMTP: true, Hostname: "lmtp.example.com", StartTLS: true, MaxMessageSize: 5000}, nil, func(e *relayEngine) {
		e.client("EHLO c\r\nHELO c\r\nMAIL FROM:<a@b>\r\nLHLO c.example\r\nSTARTTLS\r\nHELP\r\n")
		e.expect([]string{
			"220 lmtp.example.com LMTP",
			"500 5.5.1 Error: this is LMTP, send LHLO",
			"500 5.5.1 Error: this is LMTP, send LHLO",
			"503 5.5.1 Error: send LHLO first",
			"250-lmtp.example.com", "250-PIPELINING", "250-SIZE 5000", "250-8BITMIME", "250-SMTPUTF8", "250 ENHANCEDSTATUSCODES",
			"502 5.5.1 Error: STARTTLS not available",
			"214 2.0.0 Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY",
		}, "")
	})
}

func TestRelayPipelinedTransaction(t *testing.T) {
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		e.client("EHLO client.example\r\nMAIL FROM:<s@c.example> SIZE=300 BODY=8BITMIME\r\n" +
			"RCPT TO:<alice@a.example>\r\nRCPT TO:<bob@a.example>\r\nDATA\r\n")
		e.takeClient()
		// MAIL is answered locally; the first recipient needs a leg.
		e.expect(nil, "", "route alice@a.example", "connect A")
		if !e.r.AwaitingBackend() {
			e.t.Fatal("not awaiting the greeting")
		}
		postfixLeg(e, "MAIL FROM:<s@c.example> SIZE=300 BODY=8BITMIME\r\n")
		// The second recipient, same destination, goes on the same leg.
		e.expect([]string{"250 2.1.5 Ok"}, "RCPT TO:<bob@a.example>\r\n", "route bob@a.example")
		e.backend("250 2.1.5 Ok bob\r\n")
		e.expect([]string{"250 2.1.5 Ok bob"}, "DATA\r\n")
		e.backend("354 End data with <CR><LF>.<CR><LF>\r\n")
		e.expect([]string{"354 End data with <CR><LF>.<CR><LF>"}, "")
		if e.r.AwaitingBackend() {
			e.t.Fatal("awaiting the backend during the body")
		}
		e.client("Subject: hi\r\n\r\n..stuffed\r\n.")
		e.client("\r")
		e.client("\nQUIT\r\n")
		e.expect(nil, "Subject: hi\r\n\r\n..stuffed\r\n.\r\n")
		e.backend("250 2.0.0 Ok: queued as 4Xyz\r\n")
		e.expect([]string{"250 2.0.0 Ok: queued as 4Xyz", "221 2.0.0 Bye"}, "QUIT\r\n", "close")
	})
}

func TestRelayClientRepliesStayInOrder(t *testing.T) {
	// The whole dialogue in one write: every reply in command order.
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		e.client("EHLO c\r\n")
		e.takeClient()
		e.client("MAIL FROM:<>\r\nRCPT TO:<nobody@x>\r\nRCPT TO:<alice@a.example>\r\nRCPT TO:<carol@b.example>\r\nNOOP\r\nRCPT TO:<temp@x.example>\r\nDATA\r\n")
		e.expect([]string{"250 2.1.0 Ok", "550 5.1.1 <nobody@x>: Recipient address rejected: unknown destination"}, "",
			"route nobody@x", "route alice@a.example", "connect A")
		e.backend(bGreeting + bEHLO + "250 2.1.0 Ok\r\n")
		e.expect(nil, "EHLO mx.example.com\r\nMAIL FROM:<>\r\nRCPT TO:<alice@a.example>\r\n")
		e.backend("250 2.1.5 Ok\r\n")
		e.expect([]string{
			"250 2.1.5 Ok",
			"452 4.5.3 Too many recipients", // carol is elsewhere: next transaction
			"250 2.0.0 Ok",
			"451 4.4.3 <temp@x.example>: Recipient routing temporarily unavailable, try again later",
		}, "DATA\r\n", "route carol@b.example", "route temp@x.example")
	})
}

func TestRelayXClientHandshake(t *testing.T) {
	fwd := &forward.Info{
		Client:    netip.MustParseAddrPort("[2001:db8::7]:40000"),
		Local:     netip.MustParseAddrPort("192.0.2.25:25"),
		SessionID: "sess1",
		Helo:      "ignored",
	}
	cfg := relayCfg
	cfg.TTL = 4
	relayModes(t, cfg, twoRoutes, func(e *relayEngine) {
		e.leg = protocols.BackendLeg{Forward: fwd}
		e.takeClient()
		e.client("HELO laptop.example\r\nMAIL FROM:<s@c.example> BODY=8BITMIME SIZE=10\r\nRCPT TO:<alice@a.example>\r\n")
		e.expect([]string{"250 mx.example.com", "250 2.1.0 Ok"}, "", "route alice@a.example", "connect A")
		e.backend(bGreeting)
		e.expect(nil, "EHLO mx.example.com\r\n")
		// Only what is advertised: no PORT, DESTPORT, SESSION or LOGIN.
		e.backend("250-a.backend\r\n250-XCLIENT ADDR DESTADDR HELO PROTO TTL LOGIN NAME\r\n250 8BITMIME\r\n")
		e.expect(nil, "XCLIENT ADDR=IPV6:2001:db8::7 DESTADDR=192.0.2.25 HELO=laptop.example PROTO=SMTP TTL=4\r\n")
		e.backend("220 a.backend ESMTP again\r\n")
		e.expect(nil, "EHLO laptop.example\r\n")
		// No SIZE advertised after XCLIENT: SIZE= is left out, BODY kept.
		e.backend("250-a.backend\r\n250 8BITMIME\r\n")
		e.expect(nil, "MAIL FROM:<s@c.example> BODY=8BITMIME\r\n")
		e.backend("250 2.1.0 Ok\r\n")
		e.expect(nil, "RCPT TO:<alice@a.example>\r\n")
		e.backend("250 2.1.5 Ok\r\n")
		e.expect([]string{"250 2.1.5 Ok"}, "")
	})
	// LMTP: PROTO=LMTP; a refused XCLIENT fails the leg, temporarily.
	relayModes(t, lmtpCfg, twoRoutes, func(e *relayEngine) {
		e.leg = protocols.BackendLeg{Forward: fwd}
		e.client("LHLO mta.example\r\nMAIL FROM:<s@c.example>\r\nRCPT TO:<alice@a.example>\r\n")
		e.takeClient()
		e.expect(nil, "", "route alice@a.example", "connect A")
		e.backend("220 a.backend LMTP\r\n250-a.backend\r\n250 XCLIENT ADDR PORT PROTO HELO\r\n")
		e.expect(nil, "LHLO lmtp.example.com\r\nXCLIENT ADDR=IPV6:2001:db8::7 PORT=40000 HELO=mta.example PROTO=LMTP\r\n")
		e.backend("550 5.7.0 Error: insufficient authorization\r\n")
		e.expect([]string{"451 4.4.1 <alice@a.example>: Recipient address rejected: backend unavailable, try again later"},
			"QUIT\r\n", "disconnect")
	})
}

func TestRelayBackendStartTLS(t *testing.T) {
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		e.leg = protocols.BackendLeg{StartTLS: true}
		e.client("EHLO c\r\nMAIL FROM:<s@c>\r\nRCPT TO:<alice@a.example>\r\n")
		e.takeClient()
		e.TakeEvents()
		e.backend(bGreeting)
		e.expect(nil, "EHLO mx.example.com\r\n")
		e.backend("250-a.backend\r\n250 STARTTLS\r\n")
		e.expect(nil, "STARTTLS\r\n")
		e.backend("220 2.0.0 Ready to start TLS\r\n")
		e.expect(nil, "EHLO mx.example.com\r\n", "backend starttls")
		e.backend(bEHLO)
		e.expect(nil, "MAIL FROM:<s@c>\r\n")
	})
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		e.leg = protocols.BackendLeg{StartTLS: true}
		e.client("EHLO c\r\nMAIL FROM:<s@c>\r\nRCPT TO:<alice@a.example>\r\nRCPT TO:<bob@a.example>\r\nDATA\r\n")
		e.takeClient()
		e.TakeEvents()
		e.backend(bGreeting + bEHLO) // no STARTTLS offered: nothing goes in clear
		e.expect([]string{
			"451 4.4.1 <alice@a.example>: Recipient address rejected: backend unavailable, try again later",
			"451 4.4.1 <bob@a.example>: Recipient address rejected: backend unavailable, try again later",
			"554 5.5.1 Error: no valid recipients",
		}, "EHLO mx.example.com\r\nQUIT\r\n", "disconnect", "route bob@a.example")
	})
}

func TestRelayMailRefusedByBackend(t *testing.T) {
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		e.client("EHLO c\r\nMAIL FROM:<spam@c>\r\nRCPT TO:<alice@a.example>\r\nRCPT TO:<bob@a.example>\r\nRCPT TO:<carol@b.example>\r\nDATA\r\nRSET\r\n")
		e.takeClient()
		e.TakeEvents()
		e.backend(bGreeting + bEHLO)
		e.TakeSent()
		e.backend("550-5.7.1 Sender rejected\r\n550 5.7.1 see https://example/why\r\n")
		e.expect([]string{
			"550-5.7.1 Sender rejected", "550 5.7.1 see https://example/why",
			"550-5.7.1 Sender rejected", "550 5.7.1 see https://example/why",
			"452 4.5.3 Too many recipients",
			"554 5.5.1 Error: no valid recipients",
			"250 2.0.0 Ok",
		}, "", "route bob@a.example", "route carol@b.example")
		// The leg saw a MAIL: it is reset before its next transaction.
		e.client("MAIL FROM:<s@c>\r\nRCPT TO:<bob@a.example>\r\n")
		e.expect([]string{"250 2.1.0 Ok"}, "RSET\r\n", "route bob@a.example")
		e.backend("250 2.0.0 Ok\r\n")
		e.expect(nil, "MAIL FROM:<s@c>\r\n")
	})
}

func TestRelayRcptRefusalRelayedVerbatim(t *testing.T) {
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.client("RCPT TO:<bad@a.example>\r\nRCPT TO:<bob@a.example>\r\n")
		e.expect(nil, "RCPT TO:<bad@a.example>\r\n", "route bad@a.example")
		e.backend("550-5.1.1 <bad@a.example>: Recipient address rejected:\r\n550 5.1.1 User unknown in virtual mailbox table\n")
		e.expect([]string{
			"550-5.1.1 <bad@a.example>: Recipient address rejected:",
			"550 5.1.1 User unknown in virtual mailbox table",
		}, "RCPT TO:<bob@a.example>\r\n", "route bob@a.example")
		e.backend("452 4.2.2 Mailbox full\r\n")
		e.expect([]string{"452 4.2.2 Mailbox full"}, "")
		if e.r.tx.accepted != 1 {
			e.t.Fatalf("accepted %d", e.r.tx.accepted)
		}
	})
}

func TestRelayBodyInPieces(t *testing.T) {
	body := "From: a\r\nSubject: pieces\r\n\r\n.leading dot\r\n..\r\nline\r\n.\r\n"
	for _, cuts := range [][]int{{1}, {2}, {3}, {5, 1}, {len(body) - 2, 1}, {len(body) - 3, 2}, {len(body) - 1}} {
		relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
			openTransaction(e)
			e.client("DATA\r\n")
			e.backend("354 go\r\n")
			e.expect([]string{"354 go"}, "DATA\r\n")
			for i, k := 0, 0; i < len(body); k++ {
				n := min(cuts[k%len(cuts)], len(body)-i)
				e.client(body[i : i+n])
				i += n
			}
			e.expect(nil, body)
			e.backend("250 2.0.0 Ok: queued\r\n")
			e.expect([]string{"250 2.0.0 Ok: queued"}, "")
		})
	}
	// An empty message, and the body in the same write as DATA.
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.client("DATA\r\n.\r\nQUIT\r\n")
		e.backend("354 go\r\n")
		e.expect([]string{"354 go"}, "DATA\r\n.\r\n")
		e.backend("250 2.0.0 Ok: queued\r\n")
		e.expect([]string{"250 2.0.0 Ok: queued", "221 2.0.0 Bye"}, "QUIT\r\n", "close")
	})
}

func TestRelayLMTPPerRecipientReplies(t *testing.T) {
	relayModes(t, lmtpCfg, twoRoutes, func(e *relayEngine) {
		e.client("LHLO mta\r\nMAIL FROM:<s@c>\r\nRCPT TO:<alice@a.example>\r\nRCPT TO:<bad@a.example>\r\nRCPT TO:<bob@a.example>\r\nDATA\r\n")
		e.takeClient()
		e.TakeEvents()
		e.backend("220 a.backend LMTP\r\n" + bLHLO + "250 2.1.0 Ok\r\n")
		e.expect(nil, "LHLO lmtp.example.com\r\nMAIL FROM:<s@c>\r\nRCPT TO:<alice@a.example>\r\n")
		e.backend("250 2.1.5 Ok\r\n")
		e.backend("550 5.1.1 no such user\r\n")
		e.backend("250 2.1.5 Ok\r\n")
		e.backend("354 go\r\n")
		e.expect([]string{"250 2.1.5 Ok", "550 5.1.1 no such user", "250 2.1.5 Ok", "354 go"},
			"RCPT TO:<bad@a.example>\r\nRCPT TO:<bob@a.example>\r\nDATA\r\n", "route bad@a.example", "route bob@a.example")
		e.client("hello\r\n.\r\nNOOP\r\n")
		e.expect(nil, "hello\r\n.\r\n")
		e.backend("250 2.0.0 <alice@a.example> saved\r\n")
		e.expect([]string{"250 2.0.0 <alice@a.example> saved"}, "")
		if !e.r.AwaitingBackend() {
			e.t.Fatal("one reply still owed")
		}
		e.backend("452-4.2.2 <bob@a.example>\r\n452 4.2.2 quota exceeded\r\n")
		e.expect([]string{"452-4.2.2 <bob@a.example>", "452 4.2.2 quota exceeded", "250 2.0.0 Ok"}, "")
	})
}

func TestRelaySizeLimit(t *testing.T) {
	cfg := relayCfg
	cfg.MaxMessageSize = 20
	relayModes(t, cfg, twoRoutes, func(e *relayEngine) {
		e.client("EHLO c\r\n")
		e.takeClient()
		e.client("MAIL FROM:<s@c> SIZE=21\r\nMAIL FROM:<s@c> SIZE=20\r\nRCPT TO:<alice@a.example>\r\nDATA\r\n")
		e.expect([]string{"552 5.3.4 Message size exceeds fixed limit", "250 2.1.0 Ok"}, "", "route alice@a.example", "connect A")
		// Each reply comes after its command went out.
		e.backend(bGreeting + bEHLO + "250 2.1.0 Ok\r\n")
		e.expect(nil, "EHLO mx.example.com\r\nMAIL FROM:<s@c> SIZE=20\r\nRCPT TO:<alice@a.example>\r\n")
		e.backend("250 2.1.5 Ok\r\n")
		e.backend("354 go\r\n")
		e.expect([]string{"250 2.1.5 Ok", "354 go"}, "DATA\r\n")
		e.client("0123456789\r\n01234567") // 20 octets: fits
		e.expect(nil, "0123456789\r\n01234567")
		e.client("89\r\nmore\r\n")
		e.expect(nil, "", "disconnect") // never the end of data
		e.client("\r\n.\r\nNOOP\r\n")
		e.expect([]string{"552 5.3.4 Message size exceeds fixed limit", "250 2.0.0 Ok"}, "")
		// The next transaction needs a new leg.
		e.client("MAIL FROM:<s@c>\r\nRCPT TO:<alice@a.example>\r\n")
		e.expect([]string{"250 2.1.0 Ok"}, "", "route alice@a.example", "connect A")
	})
	// Exactly at the limit, the end of data in the same write.
	relayModes(t, cfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.client("DATA\r\n")
		e.backend("354 go\r\n")
		e.takeClient()
		e.TakeSent()
		e.client("012345678901234567\r\n.\r\n")
		e.expect(nil, "012345678901234567\r\n.\r\n")
		e.backend("250 2.0.0 queued\r\n")
		e.expect([]string{"250 2.0.0 queued"}, "")
	})
	lcfg := lmtpCfg
	lcfg.MaxMessageSize = 10
	relayModes(t, lcfg, twoRoutes, func(e *relayEngine) {
		openLMTPData(e, "")
		e.client("0123456789")
		e.expect(nil, "0123456789")
		e.client("\r\n.\r\n")
		e.expect([]string{"552 5.3.4 Message size exceeds fixed limit", "552 5.3.4 Message size exceeds fixed limit"}, "", "disconnect")
	})
}

func TestRelayBackendDown(t *testing.T) {
	// The dial fails: the recipient is deferred, and so is the rest of the
	// transaction.
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		e.dialFail = true
		e.client("EHLO c\r\n")
		e.takeClient()
		e.client("MAIL FROM:<s@c>\r\nRCPT TO:<alice@a.example>\r\nRCPT TO:<bob@a.example>\r\nDATA\r\n")
		e.expect([]string{
			"250 2.1.0 Ok",
			"451 4.4.1 <alice@a.example>: Recipient address rejected: backend unavailable, try again later",
			"451 4.4.1 <bob@a.example>: Recipient address rejected: backend unavailable, try again later",
			"554 5.5.1 Error: no valid recipients",
		}, "", "route alice@a.example", "connect A", "down", "route bob@a.example")
	})
	// Gone while a RCPT is owed.
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.client("RCPT TO:<bob@a.example>\r\nDATA\r\n")
		e.TakeSent()
		e.TakeEvents()
		e.down()
		e.expect([]string{
			"451 4.4.1 <bob@a.example>: Recipient address rejected: backend unavailable, try again later",
			"451 4.4.1 Error: backend unavailable, try again later",
		}, "", "down")
	})
	// Gone during the body: the rest is swallowed, then 451.
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.client("DATA\r\n")
		e.backend("354 go\r\n")
		e.client("part one\r\n")
		e.takeClient()
		e.TakeSent()
		e.down()
		e.client("part two\r\n.\r\nRSET\r\n")
		e.expect([]string{"451 4.4.2 Error: backend connection lost, message not accepted", "250 2.0.0 Ok"}, "", "down")
	})
	// Gone after the end of data: the message is not accepted.
	relayModes(t, lmtpCfg, twoRoutes, func(e *relayEngine) {
		openLMTPData(e, "x\r\n.\r\n")
		e.backend("250 2.0.0 <alice@a.example> saved\r\n")
		e.down()
		e.expect([]string{"250 2.0.0 <alice@a.example> saved", "451 4.4.2 Error: backend connection lost, message not accepted"}, "", "down")
	})
	// An idle leg goes away: nothing to say, the next transaction dials.
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.client("DATA\r\nx\r\n.\r\n")
		e.backend("354 go\r\n")
		e.backend("250 2.0.0 queued\r\n")
		e.takeClient()
		e.TakeSent()
		e.down()
		e.expect(nil, "", "down")
		e.client("MAIL FROM:<s@c>\r\nRCPT TO:<bob@a.example>\r\n")
		e.expect([]string{"250 2.1.0 Ok"}, "", "route bob@a.example", "connect A")
	})
	// The leg goes away between two recipients of a transaction.
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.down()
		e.client("RCPT TO:<bob@a.example>\r\nDATA\r\n")
		e.expect([]string{
			"451 4.4.1 <bob@a.example>: Recipient address rejected: backend unavailable, try again later",
			"451 4.4.1 Error: backend unavailable, try again later",
		}, "", "down", "route bob@a.example")
	})
}

func TestRelayUnsolicitedBackendBytes(t *testing.T) {
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.backend("421 4.4.2 a.backend Error: timeout exceeded\r\n")
		e.expect(nil, "", "disconnect")
		e.client("RCPT TO:<bob@a.example>\r\nRSET\r\nMAIL FROM:<s@c>\r\nRCPT TO:<bob@a.example>\r\n")
		e.expect([]string{
			"451 4.4.1 <bob@a.example>: Recipient address rejected: backend unavailable, try again later",
			"250 2.0.0 Ok", "250 2.1.0 Ok",
		}, "", "route bob@a.example", "route bob@a.example", "connect A")
	})
}

func TestRelayMisbehavingBackend(t *testing.T) {
	for name, reply := range map[string]string{
		"garbage":      "HTTP/1.1 400 Bad Request\r\n",
		"code changes": "250-a\r\n550 b\r\n",
		"421":          "421 4.3.2 shutting down\r\n",
		"3xx to RCPT":  "354 what\r\n",
		"endless line": "250 " + strings.Repeat("x", smtpwire.MaxReplyLine+10),
		"many lines":   strings.Repeat("250-x\r\n", maxRelayReplyLines+1),
	} {
		t.Run(name, func(t *testing.T) {
			relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
				openTransaction(e)
				e.client("RCPT TO:<bob@a.example>\r\n")
				e.TakeSent()
				e.TakeEvents()
				e.backend(reply)
				e.expect([]string{"451 4.4.1 <bob@a.example>: Recipient address rejected: backend unavailable, try again later"}, "", "disconnect")
			})
		})
	}
}

func TestRelayNeverInventsEndOfDataSuccess(t *testing.T) {
	// Whatever the backend does after the end of data, the client gets its
	// verdict verbatim or a 451: never a success of the proxy's making.
	for name, tc := range map[string]struct {
		backend string
		down    bool
		want    []string
	}{
		"accepted":       {backend: "250 2.0.0 Ok: queued as X\r\n", want: []string{"250 2.0.0 Ok: queued as X"}},
		"refused":        {backend: "554 5.7.1 spam\r\n", want: []string{"554 5.7.1 spam"}},
		"closes":         {down: true, want: []string{"451 4.4.2 Error: backend connection lost, message not accepted"}},
		"421":            {backend: "421 4.4.2 timeout\r\n", want: []string{"451 4.4.2 Error: backend connection lost, message not accepted"}},
		"garbage":        {backend: "\x00\x01\r\n", want: []string{"451 4.4.2 Error: backend connection lost, message not accepted"}},
		"354 again":      {backend: "354 more\r\n", want: []string{"451 4.4.2 Error: backend connection lost, message not accepted"}},
		"half then down": {backend: "250 2.0.0 O", down: true, want: []string{"451 4.4.2 Error: backend connection lost, message not accepted"}},
	} {
		t.Run(name, func(t *testing.T) {
			relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
				openTransaction(e)
				e.client("DATA\r\nbody\r\n.\r\n")
				e.backend("354 go\r\n")
				e.takeClient()
				e.TakeSent()
				e.backend(tc.backend)
				if tc.down {
					e.down()
				}
				if got := e.takeClient(); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
					e.t.Fatalf("client got %q, want %q", got, tc.want)
				}
			})
		})
	}
}

func TestRelayNewDestinationAfterRset(t *testing.T) {
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.client("RSET\r\nMAIL FROM:<s@c>\r\nRCPT TO:<carol@b.example>\r\n")
		e.expect([]string{"250 2.0.0 Ok", "250 2.1.0 Ok"}, "QUIT\r\n", "route carol@b.example", "connect B")
		e.backend("220 b.backend ESMTP\r\n" + bEHLO + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n")
		e.expect([]string{"250 2.1.5 Ok"}, "EHLO mx.example.com\r\nMAIL FROM:<s@c>\r\nRCPT TO:<carol@b.example>\r\n")
	})
	// Back to the same destination: the leg is reused, RSET first.
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.client("RSET\r\nMAIL FROM:<t@c>\r\nRCPT TO:<bob@a.example>\r\n")
		e.expect([]string{"250 2.0.0 Ok", "250 2.1.0 Ok"}, "RSET\r\n", "route bob@a.example")
		e.backend("250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n")
		e.expect(nil, "MAIL FROM:<t@c>\r\nRCPT TO:<bob@a.example>\r\n")
		e.backend("250 2.1.5 Ok\r\n")
		e.expect([]string{"250 2.1.5 Ok"}, "")
	})
	// After a delivered message the backend's transaction is over: no RSET.
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.client("DATA\r\nx\r\n.\r\nMAIL FROM:<t@c>\r\nRCPT TO:<bob@a.example>\r\n")
		e.backend("354 go\r\n")
		e.backend("250 2.0.0 queued\r\n")
		e.expect([]string{"354 go", "250 2.0.0 queued", "250 2.1.0 Ok"}, "DATA\r\nx\r\n.\r\nMAIL FROM:<t@c>\r\n", "route bob@a.example")
	})
}

func TestRelayQuit(t *testing.T) {
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.client("QUIT\r\nNOOP\r\n")
		e.expect([]string{"221 2.0.0 Bye"}, "QUIT\r\n", "close")
	})
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		e.client("QUIT\r\n")
		e.expect([]string{"220 mx.example.com ESMTP", "221 2.0.0 Bye"}, "", "close")
	})
}

func TestRelayLineLimits(t *testing.T) {
	cfg := relayCfg
	cfg.MaxLine = 600
	relayModes(t, cfg, twoRoutes, func(e *relayEngine) {
		e.takeClient()
		e.client("NOOP " + strings.Repeat("x", 2000) + "\r\nNOOP\n")
		e.expect([]string{"500 5.5.0 Error: line too long", "250 2.0.0 Ok"}, "")
		e.client("NOOP " + strings.Repeat("y", 594) + "\r\n") // 599 octets: fits
		e.expect([]string{"250 2.0.0 Ok"}, "")
	})
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		e.takeClient()
		e.client(strings.Repeat("BOGUS\r\n", 25))
		got := e.takeClient()
		if len(got) != 21 || got[20] != "421 4.7.0 mx.example.com Error: too many errors" {
			e.t.Fatalf("got %q", got)
		}
		if e.TakeEvents()[0] != "close" {
			e.t.Fatal("not closed")
		}
	})
}

func TestRelayCommandSyntax(t *testing.T) {
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		e.takeClient()
		e.client("MAIL FROM:<a@b>\r\nRCPT TO:<alice@a.example>\r\nDATA\r\nEHLO\r\nEHLO c\r\n")
		e.expect([]string{
			"503 5.5.1 Error: send HELO/EHLO first",
			"503 5.5.1 Error: need MAIL command",
			"503 5.5.1 Error: need MAIL command",
			"501 5.5.4 Syntax: EHLO hostname",
			"250-mx.example.com", "250-PIPELINING", "250-SIZE", "250-8BITMIME", "250-SMTPUTF8", "250 ENHANCEDSTATUSCODES",
		}, "")
		e.client("MAIL TO:<a@b>\r\nMAIL FROM:a@b\r\nMAIL FROM:<a b@c>\r\nMAIL FROM:<a@b> AUTH=<>\r\nMAIL FROM:<a@b> SIZE=x\r\n" +
			"MAIL FROM:<a@b> BODY=BINARYMIME\r\nMAIL FROM:<jörg@b>\r\nmail from: <\"a b>\"@c> smtputf8 body=8bitmime\r\nMAIL FROM:<>\r\n")
		e.expect([]string{
			"501 5.5.4 Syntax: MAIL FROM:<address>",
			"501 5.1.7 Bad sender address syntax",
			"501 5.1.7 Bad sender address syntax",
			"555 5.5.4 Unsupported option: AUTH=<>",
			"501 5.5.4 Bad message size syntax",
			"555 5.5.4 Unsupported option: BODY=BINARYMIME",
			"553 5.6.7 Error: non-ASCII address requires SMTPUTF8",
			"250 2.1.0 Ok",
			"503 5.5.1 Error: nested MAIL command",
		}, "")
		if e.r.tx.sender != `"a b>"@c` || !e.r.tx.smtpUTF8 || e.r.tx.body != "8BITMIME" {
			e.t.Fatalf("tx %+v", e.r.tx)
		}
		e.client("RCPT TO:<>\r\nRCPT alice\r\nRCPT TO:<alice@a.example> NOTIFY=NEVER\r\nRCPT TO:<jörg@x>\r\nDATA x\r\nSTARTTLS\r\n")
		e.expect([]string{
			"501 5.1.3 Bad recipient address syntax",
			"501 5.5.4 Syntax: RCPT TO:<address>",
			"555 5.5.4 Unsupported option: NOTIFY=NEVER",
			"550 5.1.1 <jörg@x>: Recipient address rejected: unknown destination",
			"501 5.5.4 Syntax: DATA",
			"502 5.5.1 Error: STARTTLS not available",
		}, "", "route jörg@x")
	})
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		e.takeClient()
		e.client("VRFY\r\nVRFY a\r\nEXPN a\r\nAUTH PLAIN\r\nBDAT 10 LAST\r\nXYZZY\r\n\r\nRSET x\r\nRSET\r\nRCPT TO:<a@b>\r\n")
		e.expect([]string{
			"501 5.5.4 Syntax: VRFY address",
			"252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery",
			"502 5.5.1 Error: command not implemented",
			"502 5.5.1 Error: command not implemented",
			"502 5.5.1 Error: command not implemented",
			"502 5.5.2 Error: command not recognized",
			"500 5.5.2 Error: bad syntax",
			"501 5.5.4 Syntax: no parameters allowed",
			"250 2.0.0 Ok",
			"503 5.5.1 Error: need MAIL command",
		}, "")
	})
}

func TestRelayMaxRecipients(t *testing.T) {
	cfg := relayCfg
	cfg.MaxRecipients = 2
	relayModes(t, cfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.client("RCPT TO:<bob@a.example>\r\nRCPT TO:<bad@a.example>\r\n")
		e.backend("250 2.1.5 Ok\r\n")
		e.expect([]string{"250 2.1.5 Ok", "452 4.5.3 Too many recipients"}, "RCPT TO:<bob@a.example>\r\n", "route bob@a.example")
	})
}

func TestRelaySMTPUTF8(t *testing.T) {
	relayModes(t, relayCfg, map[string]string{"jörg@a.example": "A", "bob@a.example": "A"}, func(e *relayEngine) {
		e.client("EHLO c\r\nMAIL FROM:<s@c> SMTPUTF8\r\nRCPT TO:<jörg@a.example>\r\nRCPT TO:<bob@a.example>\r\n")
		e.takeClient()
		e.TakeEvents()
		e.backend(bGreeting + "250-a.backend\r\n250 8BITMIME\r\n")
		e.expect([]string{
			"553 5.6.7 Error: the destination does not support SMTPUTF8",
			"553 5.6.7 Error: the destination does not support SMTPUTF8",
		}, "EHLO mx.example.com\r\n", "route bob@a.example")
	})
	relayModes(t, relayCfg, map[string]string{"jörg@a.example": "A"}, func(e *relayEngine) {
		e.client("EHLO c\r\nMAIL FROM:<s@c> SMTPUTF8 BODY=8BITMIME\r\nRCPT TO:<jörg@a.example>\r\n")
		e.takeClient()
		e.TakeEvents()
		e.backend(bGreeting + bEHLO + "250 2.1.0 Ok\r\n")
		e.expect(nil, "EHLO mx.example.com\r\nMAIL FROM:<s@c> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<jörg@a.example>\r\n")
	})
}

func TestRelayShuttingDown(t *testing.T) {
	// Between transactions: now.
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.client("RSET\r\n")
		e.takeClient()
		e.shutdown()
		e.expect([]string{"421 4.3.0 mx.example.com Server shutting down"}, "QUIT\r\n", "shutdown true", "close")
	})
	// In a transaction: once it is over, the next command gets the 421.
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		openTransaction(e)
		e.shutdown()
		e.expect(nil, "", "shutdown false")
		e.client("RCPT TO:<bob@a.example>\r\nDATA\r\nbody\r\n.\r\nMAIL FROM:<s@c>\r\n")
		e.backend("250 2.1.5 Ok\r\n")
		e.backend("354 go\r\n")
		e.takeClient()
		e.TakeSent()
		e.TakeEvents()
		e.backend("250 2.0.0 queued\r\n")
		e.expect([]string{"250 2.0.0 queued", "421 4.3.0 mx.example.com Server shutting down"}, "QUIT\r\n", "close")
	})
	// Waiting for the backend counts as in a transaction.
	relayModes(t, relayCfg, twoRoutes, func(e *relayEngine) {
		e.client("EHLO c\r\nMAIL FROM:<s@c>\r\nRCPT TO:<alice@a.example>\r\n")
		e.takeClient()
		e.shutdown()
		e.client("RSET\r\nQUIT\r\n")
		e.backend(bGreeting + bEHLO + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n")
		e.expect([]string{"250 2.1.5 Ok", "250 2.0.0 Ok", "221 2.0.0 Bye"},
			"EHLO mx.example.com\r\nMAIL FROM:<s@c>\r\nRCPT TO:<alice@a.example>\r\nQUIT\r\n",
			"route alice@a.example", "connect A", "shutdown false", "close")
	})
}

func TestRelayTimeoutAndBusy(t *testing.T) {
	r := NewRelay(relayCfg)
	if got := string(r.Timeout(nil)); got != "421 4.4.2 mx.example.com Error: timeout exceeded\r\n" {
		t.Fatal(got)
	}
	if got := string(NewRelay(relayCfg).TooBusy(nil)); got != "421 4.3.2 mx.example.com Too many connections, try again later\r\n" {
		t.Fatal(got)
	}
}

func TestRelayWithFakeBackend(t *testing.T) {
	// Two transactions to two destinations, LMTP, one recipient refused.
	serial, finals := 0, []string(nil)
	for _, bytewise := range []bool{false, true} {
		serial, finals = 0, nil
		e := newRelayEngine(t, lmtpCfg, twoRoutes)
		e.clientBytewise = bytewise
		e.check = checkEndOfData(t)
		e.newAuto = func() *fakeBackend {
			return &fakeBackend{lmtp: true, ehlo: bLHLO, serial: &serial, finals: &finals, refuse: "bad"}
		}
		e.client("LHLO m\r\nMAIL FROM:<s@c>\r\nRCPT TO:<alice@a.example>\r\nRCPT TO:<bad@a.example>\r\nRCPT TO:<bob@a.example>\r\nDATA\r\nhi\r\n.\r\n" +
			"MAIL FROM:<s@c>\r\nRCPT TO:<carol@b.example>\r\nDATA\r\nho\r\n.\r\nQUIT\r\n")
		got := strings.Join(e.takeClient()[7:], "\n")
		want := strings.Join([]string{
			"250 2.1.0 Ok", "250 2.1.5 fake recipient ok", "550 5.1.1 fake no such user", "250 2.1.5 fake recipient ok", "354 fake go ahead",
			"250 2.0.0 fake delivered Q1", "250 2.0.0 fake delivered Q2",
			"250 2.1.0 Ok", "250 2.1.5 fake recipient ok", "354 fake go ahead", "250 2.0.0 fake delivered Q3",
			"221 2.0.0 Bye",
		}, "\n")
		if got != want {
			t.Fatalf("bytewise=%v client got\n%s", bytewise, got)
		}
	}
}
