package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/switchyard-mail/switchyard/bench/imapload"
	"github.com/switchyard-mail/switchyard/bench/mixload"
)

// runMixed is --scenario mixed: bench/mixload against --target (IMAP) and
// --target-pop3/-submission/-lmtp/-smtp. sizeSet tells whether
// --message-size was given (the mixed default is 16 KiB, not 1 KiB).
func runMixed(ctx context.Context, f *flags, sizeSet bool, accounts []imapload.Account, stdout, stderr io.Writer) error {
	if f.tlsMode != "none" {
		return errors.New("--tls: the mixed scenario speaks plaintext only")
	}
	if f.mixedUsers <= 0 {
		return fmt.Errorf("--mixed-users %d: want at least 1", f.mixedUsers)
	}
	mix, err := parseMix(f.mixedLoginMix)
	if err != nil {
		return err
	}
	o := mixload.Options{
		IMAP: f.target, POP3: f.targetPOP3, Submission: f.targetSubmission, LMTP: f.targetLMTP, SMTP: f.targetSMTP,
		Accounts: accounts, Domain: f.rcptDomain, Users: f.mixedUsers,
		Idle: f.mixedIdle, IdleConcurrency: f.concurrency,
		LoginRate: f.mixedLoginRate, LoginMix: mix, LoginClients: f.mixedLoginClients,
		FetchRate: f.mixedFetchRate, FetchClients: f.mixedFetchClients,
		LMTPRate: f.mixedLMTPRate, SMTPRate: f.mixedSMTPRate, DeliverConns: f.mixedDeliverConns,
		LMTPPerConnection: f.mixedLMTPPerConn, SMTPPerConnection: f.mixedSMTPPerConn,
		Recipients: f.recipients, Duration: f.duration, Timeout: f.timeout, Linger: f.linger,
		Sources: f.sources, Timeline: f.timeline,
	}
	if sizeSet {
		o.MessageSize = f.messageSize
	}
	return runScenario(f, stdout, stderr, false, func(c clientSide) (*mixload.Result, error) {
		o.Progress, o.ProgressEvery, o.Sampler = c.Progress, c.ProgressEvery, c.Sampler
		return mixload.Run(ctx, o)
	})
}

// parseMix reads "I:P:S", the weights of IMAP, POP3 and submission logins.
func parseMix(s string) ([3]float64, error) {
	var out [3]float64
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return out, fmt.Errorf("--mixed-login-mix %q: want IMAP:POP3:SUBMISSION weights, e.g. 4:1:1", s)
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || v > 1e6 {
			return out, fmt.Errorf("--mixed-login-mix %q: want weights from 0 to 1e6", s)
		}
		out[i] = v
	}
	if out == [3]float64{} {
		return out, fmt.Errorf("--mixed-login-mix %q: every weight is 0 (use --mixed-login-rate 0 for no logins)", s)
	}
	return out, nil
}
