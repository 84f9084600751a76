package verify

// AES-GCM-SIV (RFC 8452), written for this package because Go's standard
// library has none. Only what opening Stalwart tokens needs is exported to
// the rest of the package: a cipher.AEAD for 128- or 256-bit keys with the
// RFC's 12-byte nonce and 16-byte tag. Sealing exists too (tests build
// tokens with it, and RFC 8452's vectors are encryption vectors).
//
// Every step works on secret data in constant time: AES comes from
// crypto/aes (hardware or constant-time software), POLYVAL below uses
// integer multiplication with holes instead of table look-ups, and the tag
// is compared with crypto/subtle.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"math/bits"
)

const (
	sivNonceSize = 12
	sivTagSize   = 16
	// RFC 8452 section 6: plaintext and AAD at most 2^36 bytes.
	sivMaxInput = 1 << 36
)

var errOpen = errors.New("gcmsiv: message authentication failed")

// gcmSIV is AEAD_AES_128_GCM_SIV or AEAD_AES_256_GCM_SIV, by key length.
type gcmSIV struct {
	// kgk is AES under the key-generating key; per-nonce keys come from it.
	kgk    cipher.Block
	keyLen int
}

// gcmSIV is a cipher.AEAD, except that dst may overlap the input only
// exactly (in place), never shifted: the package never does either.
var _ cipher.AEAD = (*gcmSIV)(nil)

// newGCMSIV returns AES-GCM-SIV for a 16- or 32-byte key.
func newGCMSIV(key []byte) (*gcmSIV, error) {
	if len(key) != 16 && len(key) != 32 {
		return nil, errors.New("gcmsiv: key must be 16 or 32 bytes")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &gcmSIV{kgk: b, keyLen: len(key)}, nil
}

func (g *gcmSIV) NonceSize() int { return sivNonceSize }
func (g *gcmSIV) Overhead() int  { return sivTagSize }

// deriveKeys is RFC 8452 section 4: the first eight bytes of AES(K, LE32(i)
// || nonce) for i = 0, 1 make the POLYVAL key; i = 2.. make the per-message
// AES key (two blocks for 128-bit keys, four for 256-bit).
func (g *gcmSIV) deriveKeys(nonce []byte) (authKey [16]byte, enc cipher.Block) {
	var in, out [16]byte
	copy(in[4:], nonce)
	var encKey [32]byte
	n := 2 + g.keyLen/8
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(in[:4], uint32(i))
		g.kgk.Encrypt(out[:], in[:])
		if i < 2 {
			copy(authKey[8*i:], out[:8])
		} else {
			copy(encKey[8*(i-2):], out[:8])
		}
	}
	enc, err := aes.NewCipher(encKey[:g.keyLen])
	if err != nil {
		// Unreachable: the length is 16 or 32.
		panic(err)
	}
	clear(encKey[:])
	clear(out[:])
	return authKey, enc
}

// tag computes the SIV over aad and plaintext (section 4).
func tag(authKey *[16]byte, enc cipher.Block, nonce, aad, plaintext []byte) [16]byte {
	p := newPolyval(authKey)
	p.updatePadded(aad)
	p.updatePadded(plaintext)
	var lens [16]byte
	binary.LittleEndian.PutUint64(lens[:8], uint64(len(aad))*8)
	binary.LittleEndian.PutUint64(lens[8:], uint64(len(plaintext))*8)
	p.update(lens[:])
	s := p.sum()
	for i := 0; i < sivNonceSize; i++ {
		s[i] ^= nonce[i]
	}
	s[15] &= 0x7f
	var t [16]byte
	enc.Encrypt(t[:], s[:])
	return t
}

// ctr is AES-CTR with the SIV's counter: the first 32 bits are a
// little-endian counter that wraps without carrying into the rest.
func ctr(enc cipher.Block, t *[16]byte, dst, src []byte) {
	var block, ks [16]byte
	block = *t
	block[15] |= 0x80
	counter := binary.LittleEndian.Uint32(block[:4])
	for len(src) > 0 {
		binary.LittleEndian.PutUint32(block[:4], counter)
		enc.Encrypt(ks[:], block[:])
		n := subtle.XORBytes(dst, src, ks[:])
		dst, src = dst[n:], src[n:]
		counter++
	}
	clear(ks[:])
}

func (g *gcmSIV) Seal(dst, nonce, plaintext, aad []byte) []byte {
	if len(nonce) != sivNonceSize {
		panic("gcmsiv: incorrect nonce length")
	}
	if uint64(len(plaintext)) > sivMaxInput || uint64(len(aad)) > sivMaxInput {
		panic("gcmsiv: message too large")
	}
	authKey, enc := g.deriveKeys(nonce)
	t := tag(&authKey, enc, nonce, aad, plaintext)
	clear(authKey[:])
	ret, out := sliceForAppend(dst, len(plaintext)+sivTagSize)
	ctr(enc, &t, out[:len(plaintext)], plaintext)
	copy(out[len(plaintext):], t[:])
	return ret
}

func (g *gcmSIV) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(nonce) != sivNonceSize {
		panic("gcmsiv: incorrect nonce length")
	}
	if len(ciphertext) < sivTagSize ||
		uint64(len(ciphertext)) > sivMaxInput+sivTagSize ||
		uint64(len(aad)) > sivMaxInput {
		return nil, errOpen
	}
	var t [16]byte
	n := len(ciphertext) - sivTagSize
	copy(t[:], ciphertext[n:])
	authKey, enc := g.deriveKeys(nonce)
	ret, out := sliceForAppend(dst, n)
	ctr(enc, &t, out, ciphertext[:n])
	want := tag(&authKey, enc, nonce, aad, out)
	clear(authKey[:])
	if subtle.ConstantTimeCompare(want[:], t[:]) != 1 {
		clear(out)
		return nil, errOpen
	}
	return ret, nil
}

// sliceForAppend extends in by n bytes, returning the whole slice and the
// new tail (the same contract as the standard library's AEADs).
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return
}

// POLYVAL (RFC 8452 section 3). A field element is 128 bits, little-endian:
// bit i of byte j is the coefficient of x^(8j+i). lo holds bytes 0..7 and
// hi bytes 8..15, so bit k of lo is x^k and bit k of hi is x^(64+k).
type fieldElement struct{ lo, hi uint64 }

func loadElement(b []byte) fieldElement {
	return fieldElement{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:16])}
}

func (e fieldElement) bytes() [16]byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], e.lo)
	binary.LittleEndian.PutUint64(b[8:], e.hi)
	return b
}

// clmulLow returns the low 64 bits of the carry-less product of x and y.
// Each operand is split into four parts whose set bits are four positions
// apart; an ordinary multiplication of two parts then adds at most 16 bits
// into any output position, and the carries of a sum of at most 15 stay
// inside the three-bit hole above it. Only the sum at bit 60 can reach 16,
// and its carry lands on bit 64, outside the result. Masking keeps the
// bits of the right residue class, which are the XOR (carry-less) sums.
func clmulLow(x, y uint64) uint64 {
	const (
		m0 = 0x1111111111111111
		m1 = 0x2222222222222222
		m2 = 0x4444444444444444
		m3 = 0x8888888888888888
	)
	x0, x1, x2, x3 := x&m0, x&m1, x&m2, x&m3
	y0, y1, y2, y3 := y&m0, y&m1, y&m2, y&m3
	z0 := (x0 * y0) ^ (x1 * y3) ^ (x2 * y2) ^ (x3 * y1)
	z1 := (x0 * y1) ^ (x1 * y0) ^ (x2 * y3) ^ (x3 * y2)
	z2 := (x0 * y2) ^ (x1 * y1) ^ (x2 * y0) ^ (x3 * y3)
	z3 := (x0 * y3) ^ (x1 * y2) ^ (x2 * y1) ^ (x3 * y0)
	return (z0 & m0) | (z1 & m1) | (z2 & m2) | (z3 & m3)
}

// clmul returns the 128-bit carry-less product of x and y. The high half
// comes from the low half of the product of the bit-reversed operands:
// reversing both 64-bit inputs reverses the 127-bit product, so its low 64
// bits, reversed again, are product bits 63..126, one position too low.
func clmul(x, y uint64) (hi, lo uint64) {
	lo = clmulLow(x, y)
	hi = bits.Reverse64(clmulLow(bits.Reverse64(x), bits.Reverse64(y))) >> 1
	return hi, lo
}

// dot is POLYVAL's multiplication: a * b * x^-128 modulo
// x^128 + x^127 + x^126 + x^121 + 1.
func dot(a, b fieldElement) fieldElement {
	// Schoolbook 128x128 product, z3:z2:z1:z0.
	h1, l1 := clmul(a.lo, b.lo)
	h2, l2 := clmul(a.hi, b.hi)
	h3, l3 := clmul(a.lo, b.hi)
	h4, l4 := clmul(a.hi, b.lo)
	z0 := l1
	z1 := h1 ^ l3 ^ l4
	z2 := l2 ^ h3 ^ h4
	z3 := h2
	// Montgomery reduction, 64 bits at a time: adding z0 * P clears z0
	// (P's constant term is 1) and adds z0 * (x^121 + x^126 + x^127 +
	// x^128) higher up; then the same for z1 shifted by 64. What is left,
	// z3:z2, is the product divided by x^128, already of degree < 128.
	z1 ^= z0<<57 ^ z0<<62 ^ z0<<63
	z2 ^= z0 ^ z0>>7 ^ z0>>2 ^ z0>>1
	z2 ^= z1<<57 ^ z1<<62 ^ z1<<63
	z3 ^= z1 ^ z1>>7 ^ z1>>2 ^ z1>>1
	return fieldElement{lo: z2, hi: z3}
}

type polyval struct {
	h, s fieldElement
}

func newPolyval(key *[16]byte) *polyval {
	return &polyval{h: loadElement(key[:])}
}

// update absorbs whole 16-byte blocks.
func (p *polyval) update(b []byte) {
	for len(b) >= 16 {
		x := loadElement(b)
		p.s = dot(fieldElement{p.s.lo ^ x.lo, p.s.hi ^ x.hi}, p.h)
		b = b[16:]
	}
}

// updatePadded absorbs b followed by zeros up to a block boundary.
func (p *polyval) updatePadded(b []byte) {
	n := len(b) &^ 15
	p.update(b[:n])
	if n < len(b) {
		var last [16]byte
		copy(last[:], b[n:])
		p.update(last[:])
		clear(last[:])
	}
}

func (p *polyval) sum() [16]byte { return p.s.bytes() }
