// Package ticketkeys seals TLS session tickets (tls.Config.WrapSession and
// UnwrapSession) with keys derived from one secret, so that every instance
// that holds the same secret resumes the sessions of the others: a client
// behind a load balancer resumes on whichever instance it reaches.
//
// Time is cut into epochs of one rotation period. The key of an epoch is
// HKDF-SHA256(secret, epoch number); a ticket is sealed with the current
// epoch's key and opened while its epoch lies within the lifetime (plus
// the next epoch, for an instance whose clock runs a little ahead). Keys
// so rotate on their own, on every instance at the same moment, without a
// file to rewrite; a stolen key opens at most one rotation period of
// tickets. Instances that share a secret must share rotation and lifetime.
package ticketkeys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// MinSecret is the shortest secret accepted: 256 bits.
const MinSecret = 32

const (
	version   = 1
	headerLen = 1 + 8 // version, epoch
	nonceLen  = 12
)

// Ring seals and opens tickets. Its methods are safe for concurrent use;
// Set may change its secret and periods while handshakes run.
type Ring struct {
	now func() time.Time

	mu    sync.Mutex             // serialises Set and rebuilding keys
	state atomic.Pointer[keySet] // what handshakes read
}

// keySet is one secret's keys for the epochs accepted around one epoch.
type keySet struct {
	secret   []byte
	rotation time.Duration
	keep     int64 // epochs before the current one still opened
	epoch    int64 // the epoch the keys below were built for
	aeads    []cipher.AEAD
}

// New returns a ring with the given secret (at least MinSecret bytes),
// rotation period and ticket lifetime.
func New(secret []byte, rotation, lifetime time.Duration) (*Ring, error) {
	r := &Ring{now: time.Now}
	if err := r.Set(secret, rotation, lifetime); err != nil {
		return nil, err
	}
	return r, nil
}

// RandomSecret returns a fresh secret: tickets then resume on this process
// only, across reloads.
func RandomSecret() []byte {
	b := make([]byte, MinSecret)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return b
}

// ReadSecret reads a shared secret file: its bytes are the secret, at
// least MinSecret of them (for example `openssl rand 32 > file`).
func ReadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < MinSecret {
		return nil, fmt.Errorf("%s: %d bytes; a ticket key file holds at least %d", path, len(b), MinSecret)
	}
	return b, nil
}

// Set replaces the secret and the periods; tickets sealed under another
// secret stop resuming.
func (r *Ring) Set(secret []byte, rotation, lifetime time.Duration) error {
	if len(secret) < MinSecret {
		return fmt.Errorf("ticket secret of %d bytes; at least %d", len(secret), MinSecret)
	}
	if rotation <= 0 || lifetime < rotation {
		return errors.New("ticket rotation must be positive and no longer than the lifetime")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := int64((lifetime + rotation - 1) / rotation)
	ks, err := build(append([]byte(nil), secret...), rotation, keep, r.epoch(rotation))
	if err != nil {
		return err
	}
	r.state.Store(ks)
	return nil
}

func (r *Ring) epoch(rotation time.Duration) int64 {
	return r.now().UnixNano() / int64(rotation)
}

// build derives the keys of epochs epoch-keep .. epoch+1, oldest first.
func build(secret []byte, rotation time.Duration, keep, epoch int64) (*keySet, error) {
	ks := &keySet{secret: secret, rotation: rotation, keep: keep, epoch: epoch}
	for e := epoch - keep; e <= epoch+1; e++ {
		var info [8]byte
		binary.BigEndian.PutUint64(info[:], uint64(e))
		key, err := hkdf.Key(sha256.New, secret, []byte("switchyard tls ticket keys v1"), string(info[:]), 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		ks.aeads = append(ks.aeads, aead)
	}
	return ks, nil
}

// current returns the key set for now, rebuilt once an epoch ends.
func (r *Ring) current() *keySet {
	ks := r.state.Load()
	if e := r.epoch(ks.rotation); e != ks.epoch {
		r.mu.Lock()
		defer r.mu.Unlock()
		if ks = r.state.Load(); r.epoch(ks.rotation) != ks.epoch {
			if next, err := build(ks.secret, ks.rotation, ks.keep, r.epoch(ks.rotation)); err == nil {
				r.state.Store(next)
				ks = next
			}
		}
	}
	return ks
}

// aead returns the key of epoch e, nil when e is outside the window.
func (ks *keySet) aead(e int64) cipher.AEAD {
	i := e - (ks.epoch - ks.keep)
	if i < 0 || i >= int64(len(ks.aeads)) {
		return nil
	}
	return ks.aeads[i]
}

// Wrap is tls.Config.WrapSession: the session sealed with this epoch's key.
func (r *Ring) Wrap(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	plain, err := ss.Bytes()
	if err != nil {
		return nil, err
	}
	ks := r.current()
	out := make([]byte, headerLen+nonceLen, headerLen+nonceLen+len(plain)+16)
	out[0] = version
	binary.BigEndian.PutUint64(out[1:headerLen], uint64(ks.epoch))
	rand.Read(out[headerLen:])
	return ks.aead(ks.epoch).Seal(out, out[headerLen:], plain, out[:headerLen]), nil
}

// Unwrap is tls.Config.UnwrapSession: a ticket this ring's secret sealed
// within the lifetime gives its session; anything else gives nil, nil, a
// full handshake.
func (r *Ring) Unwrap(ticket []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
	if len(ticket) < headerLen+nonceLen || ticket[0] != version {
		return nil, nil
	}
	aead := r.current().aead(int64(binary.BigEndian.Uint64(ticket[1:headerLen])))
	if aead == nil {
		return nil, nil
	}
	plain, err := aead.Open(nil, ticket[headerLen:headerLen+nonceLen], ticket[headerLen+nonceLen:], ticket[:headerLen])
	if err != nil {
		return nil, nil
	}
	ss, err := tls.ParseSessionState(plain)
	if err != nil {
		return nil, nil
	}
	return ss, nil
}

// Apply makes cfg seal and open its tickets with r.
func (r *Ring) Apply(cfg *tls.Config) {
	cfg.WrapSession = r.Wrap
	cfg.UnwrapSession = r.Unwrap
}
