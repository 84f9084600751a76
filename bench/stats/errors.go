package stats

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// Errors counts failures by kind. It is safe for concurrent use.
type Errors struct {
	mu     sync.Mutex
	counts map[string]int64
	total  int64
}

// Add counts one failure of the given kind.
func (e *Errors) Add(kind string) {
	e.mu.Lock()
	if e.counts == nil {
		e.counts = make(map[string]int64)
	}
	e.counts[kind]++
	e.total++
	e.mu.Unlock()
}

// Total returns the number of failures counted.
func (e *Errors) Total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.total
}

// Snapshot returns a copy of the counts by kind.
func (e *Errors) Snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int64, len(e.counts))
	for k, v := range e.counts {
		out[k] = v
	}
	return out
}

// KindCount is one row of Sorted.
type KindCount struct {
	Kind  string `json:"kind"`
	Count int64  `json:"count"`
}

// Sorted returns the counts, most frequent first.
func (e *Errors) Sorted() []KindCount {
	m := e.Snapshot()
	out := make([]KindCount, 0, len(m))
	for k, v := range m {
		out = append(out, KindCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// Classify names the cause of a network error in a word or two, so that
// errors from thousands of connections group into a few kinds: "timeout",
// "refused", "reset", "eof", "addr-not-available", "too-many-files", "tls",
// "closed", or "other".
func Classify(err error) string {
	if err == nil {
		return "ok"
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "addr-not-available"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too-many-files"
	case errors.Is(err, net.ErrClosed), errors.Is(err, context.Canceled):
		return "closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	var rh tls.RecordHeaderError
	var ae tls.AlertError
	var ve *tls.CertificateVerificationError
	if errors.As(err, &rh) || errors.As(err, &ae) || errors.As(err, &ve) ||
		strings.Contains(err.Error(), "tls: ") {
		return "tls"
	}
	return "other"
}
