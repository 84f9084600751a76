package smtprelay

import (
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
)

// RelayConfig configures a Relay, the machine for port 25 (SMTP) and LMTP
// listeners. Zero values take the defaults documented on each field.
type RelayConfig struct {
	// LMTP speaks LMTP (RFC 2033) on both sides: LHLO, and one reply per
	// accepted recipient after the data. Otherwise SMTP (RFC 5321).
	LMTP bool
	// Hostname is announced in the greeting, the EHLO reply and the 421
	// replies, and sent in the proxy's own EHLO/LHLO (default "localhost").
	Hostname string
	// Banner is the greeting text after "ESMTP" or "LMTP" (optional).
	Banner string
	// StartTLS offers STARTTLS to the client (SMTP only; listener tls =
	// starttls) until the client leg is TLS.
	StartTLS bool
	// TLSActive says the client leg is already TLS (implicit TLS).
	TLSActive bool
	// MaxRecipients bounds the recipients accepted in one transaction
	// (default 100); more get 452 4.5.3 (RFC 5321 section 4.5.3.1.10).
	MaxRecipients int
	// MaxMessageSize is the largest message in octets, advertised as SIZE
	// (RFC 1870); 0 means no limit (SIZE is advertised without a value).
	MaxMessageSize int64
	// MaxLine bounds one command line without its CRLF (default 2048, as
	// smtp.ServerConfig; never less than 510).
	MaxLine int
	// TTL, when positive, is the XCLIENT TTL hop count sent to backends
	// that advertise TTL; when 0 the forward.Info's own TTL is used (0 there
	// too: none is sent).
	TTL int
}

const defaultMaxRecipients = limits.MaxRecipients

func (c *RelayConfig) setDefaults() {
	c.Hostname = smtpwire.HostName(c.Hostname)
	if c.MaxRecipients <= 0 {
		c.MaxRecipients = defaultMaxRecipients
	}
	if c.MaxLine <= 0 {
		c.MaxLine = smtpwire.DefaultMaxLine
	}
	if c.MaxLine < smtpwire.MinMaxLine {
		c.MaxLine = smtpwire.MinMaxLine
	}
	if c.MaxMessageSize < 0 {
		c.MaxMessageSize = 0
	}
	if c.TTL < 0 {
		c.TTL = 0
	}
	if c.LMTP {
		c.StartTLS = false
	}
}

// clientPhase is where the client's dialogue stands.
type clientPhase uint8

const (
	cpCommand clientPhase = iota // reading commands
	cpRoute                      // RelayRoute returned: waiting for Routed
	cpRcpt                       // a RCPT reply is owed; the leg works on it
	cpData                       // the DATA reply is owed; DATA sent
	cpBody                       // forwarding the message to the leg
	cpDiscard                    // swallowing the rest of a refused message
	cpFinal                      // waiting for the backend's end-of-data replies
	cpClosed
)

// txFailure says why the transaction can no longer succeed at its
// destination.
type txFailure uint8

const (
	txOK      txFailure = iota
	txRefused           // the backend refused MAIL: its reply answers every RCPT
	txLost              // the leg went away: 451 4.4.1 for every RCPT and DATA
)

// transaction is one MAIL transaction as the client sees it.
type transaction struct {
	active   bool   // MAIL accepted
	sender   string // inside the angle brackets, verbatim
	size     int64  // SIZE=, -1 when not given
	body     string // "7BIT", "8BITMIME" or ""
	smtpUTF8 bool
	dest     string // fixed by the first routed recipient
	accepted int    // recipients the backend accepted
	mailSent bool   // MAIL went out on the leg
	failure  txFailure
	refusal  []byte // the backend's MAIL refusal (txRefused)
}

// Relay is the client-facing machine for SMTP on port 25 and LMTP: it
// answers the session itself and relays each transaction to the backend
// its first recipient routes to. It implements protocols.Relay.
type Relay struct {
	cfg      RelayConfig
	ehlo     []byte // EHLO/LHLO reply for the current TLS state
	tls      bool
	phase    clientPhase
	frame    eol.LineFramer
	errors   int // refused or unknown commands
	draining bool

	helo  string // HELO/EHLO/LHLO argument, empty before one
	proto string // "ESMTP", "SMTP" or "LMTP" for XCLIENT PROTO

	tx   transaction
	rcpt string // the recipient being routed or answered

	leg  relayLeg
	body bodyScan
}

var _ protocols.Relay = (*Relay)(nil)

// NewRelay returns a machine for one client connection.
func NewRelay(cfg RelayConfig) *Relay {
	cfg.setDefaults()
	r := &Relay{cfg: cfg, tls: cfg.TLSActive}
	r.ehlo = r.ehloReply()
	return r
}

// ehloReply lists what the proxy itself can relay: no AUTH, CHUNKING or
// DSN, whatever the backends offer.
func (r *Relay) ehloReply() []byte {
	size := "SIZE"
	if r.cfg.MaxMessageSize > 0 {
		size = "SIZE " + itoa64(r.cfg.MaxMessageSize)
	}
	exts := []string{"PIPELINING", size, "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"}
	return smtpwire.EHLOReply(r.cfg.Hostname, exts, r.cfg.StartTLS && !r.tls, nil)
}

func itoa64(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// Greeting appends "220 <hostname> ESMTP <banner>" (LMTP: "LMTP").
func (r *Relay) Greeting(out []byte) []byte {
	out = append(out, "220 "...)
	out = append(out, r.cfg.Hostname...)
	if r.cfg.LMTP {
		out = append(out, " LMTP"...)
	} else {
		out = append(out, " ESMTP"...)
	}
	if banner := ascii.Sanitize(r.cfg.Banner, ascii.Printable); banner != "" {
		out = append(out, ' ')
		out = append(out, banner...)
	}
	return append(out, "\r\n"...)
}

// TLSStarted records that the client leg is now TLS. The client must send
// EHLO again (RFC 3207 section 4.2): what it said before is forgotten. A
// backend leg, if any, stays: it carries no TLS state of the client.
func (r *Relay) TLSStarted(out []byte) []byte {
	if !r.tls {
		r.tls = true
		r.ehlo = r.ehloReply()
	}
	r.helo, r.proto = "", ""
	r.frame = eol.LineFramer{}
	r.tx = transaction{}
	if r.phase != cpClosed {
		r.phase = cpCommand
	}
	return out
}

// Recipient is the address to route after RelayRoute.
func (r *Relay) Recipient() string { return r.rcpt }

// Destination is the destination to connect to after RelayConnect.
func (r *Relay) Destination() string { return r.leg.dest }

// AwaitingBackend reports whether a backend reply is owed. It is also true
// while a leg asked for with RelayConnect is being dialled (its greeting is
// owed) and during a backend TLS handshake.
func (r *Relay) AwaitingBackend() bool {
	switch r.leg.phase {
	case lgNone, lgIdle, lgBody:
		return false
	}
	return true
}

// Timeout appends the reply sent before closing an idle client.
func (r *Relay) Timeout(out []byte) []byte {
	r.phase = cpClosed
	return smtpwire.Append421(out, r.cfg.Hostname, smtpwire.TextTimeout)
}

// TooBusy appends the reply for a connection refused by a limit.
func (r *Relay) TooBusy(out []byte) []byte {
	r.phase = cpClosed
	return smtpwire.Append421(out, r.cfg.Hostname, smtpwire.TextTooBusy)
}

// ShuttingDown ends the session now when no transaction is open, else
// once it is over: the client's next command then gets the 421.
func (r *Relay) ShuttingDown(o *protocols.RelayOut) bool {
	if r.phase == cpClosed {
		return true
	}
	if r.inTransaction() {
		r.draining = true
		return false
	}
	r.close(o)
	o.Client = smtpwire.Append421(o.Client, r.cfg.Hostname, smtpwire.TextShutdown)
	return true
}

// inTransaction: MAIL was accepted, or a reply (to the client or from the
// backend) is owed.
func (r *Relay) inTransaction() bool {
	return r.tx.active || r.phase != cpCommand || r.AwaitingBackend()
}

// close ends the session, saying QUIT to an idle leg.
func (r *Relay) close(o *protocols.RelayOut) {
	if r.leg.phase == lgIdle {
		o.Backend = append(o.Backend, "QUIT\r\n"...)
	}
	r.phase = cpClosed
}

// transactionOver clears the transaction after its last reply.
func (r *Relay) transactionOver() {
	r.tx = transaction{}
	r.phase = cpCommand
}
