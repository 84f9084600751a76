package verify

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// z is n zero bytes in hex.
func z(n int) string { return strings.Repeat("00", n) }

type sivVector struct {
	name                        string
	key, nonce, aad, pt, result string
}

var (
	key1   = "01" + z(31)
	nonce1 = "03" + z(11)
)

// RFC 8452 Appendix C.2 (AEAD_AES_256_GCM_SIV), all of them, and C.3
// (counter wrap tests, also AES-256). result is ciphertext || tag.
var rfc8452AES256 = []sivVector{
	{"C.2/1", key1, nonce1, "", "", "07f5f4169bbf55a8400cd47ea6fd400f"},
	{"C.2/2", key1, nonce1, "", "01" + z(7), "c2ef328e5c71c83b843122130f7364b761e0b97427e3df28"},
	{"C.2/3", key1, nonce1, "", "01" + z(11), "9aab2aeb3faa0a34aea8e2b18ca50da9ae6559e48fd10f6e5c9ca17e"},
	{"C.2/4", key1, nonce1, "", "01" + z(15), "85a01b63025ba19b7fd3ddfc033b3e76c9eac6fa700942702e90862383c6c366"},
	{"C.2/5", key1, nonce1, "", "01" + z(15) + "02" + z(15),
		"4a6a9db4c8c6549201b9edb53006cba821ec9cf850948a7c86c68ac7539d027fe819e63abcd020b006a976397632eb5d"},
	{"C.2/6", key1, nonce1, "", "01" + z(15) + "02" + z(15) + "03" + z(15),
		"c00d121893a9fa603f48ccc1ca3c57ce7499245ea0046db16c53c7c66fe717e39cf6c748837b61f6ee3adcee17534ed5790bc96880a99ba804bd12c0e6a22cc4"},
	{"C.2/7", key1, nonce1, "", "01" + z(15) + "02" + z(15) + "03" + z(15) + "04" + z(15),
		"c2d5160a1f8683834910acdafc41fbb1632d4a353e8b905ec9a5499ac34f96c7e1049eb080883891a4db8caaa1f99dd004d80487540735234e3744512c6f90ce112864c269fc0d9d88c61fa47e39aa08"},
	{"C.2/8", key1, nonce1, "01", "02" + z(7), "1de22967237a813291213f267e3b452f02d01ae33e4ec854"},
	{"C.2/9", key1, nonce1, "01", "02" + z(11), "163d6f9cc1b346cd453a2e4cc1a4a19ae800941ccdc57cc8413c277f"},
	{"C.2/10", key1, nonce1, "01", "02" + z(15), "c91545823cc24f17dbb0e9e807d5ec17b292d28ff61189e8e49f3875ef91aff7"},
	{"C.2/11", key1, nonce1, "01", "02" + z(15) + "03" + z(15),
		"07dad364bfc2b9da89116d7bef6daaaf6f255510aa654f920ac81b94e8bad365aea1bad12702e1965604374aab96dbbc"},
	{"C.2/12", key1, nonce1, "01", "02" + z(15) + "03" + z(15) + "04" + z(15),
		"c67a1f0f567a5198aa1fcc8e3f21314336f7f51ca8b1af61feac35a86416fa47fbca3b5f749cdf564527f2314f42fe2503332742b228c647173616cfd44c54eb"},
	{"C.2/13", key1, nonce1, "01", "02" + z(15) + "03" + z(15) + "04" + z(15) + "05" + z(15),
		"67fd45e126bfb9a79930c43aad2d36967d3f0e4d217c1e551f59727870beefc98cb933a8fce9de887b1e40799988db1fc3f91880ed405b2dd298318858467c895bde0285037c5de81e5b570a049b62a0"},
	{"C.2/14", key1, nonce1, "01" + z(11), "02" + z(3), "22b3f4cd1835e517741dfddccfa07fa4661b74cf"},
	{"C.2/15", key1, nonce1, "01" + z(15) + "0200", "03" + z(15) + "04" + z(3),
		"43dd0163cdb48f9fe3212bf61b201976067f342bb879ad976d8242acc188ab59cabfe307"},
	{"C.2/16", key1, nonce1, "01" + z(15) + "02" + z(3), "03" + z(15) + "0400",
		"462401724b5ce6588d5a54aae5375513a075cfcdf5042112aa29685c912fc2056543"},
	{"C.2/17", "e66021d5eb8e4f4066d4adb9c33560e4f46e44bb3da0015c94f7088736864200", "e0eaf5284d884a0e77d31646",
		"", "", "169fbb2fbf389a995f6390af22228a62"},
	{"C.2/18", "bae8e37fc83441b16034566b7a806c46bb91c3c5aedb64a6c590bc84d1a5e269", "e4b47801afc0577e34699b9e",
		"4fbdc66f14", "671fdd", "0eaccb93da9bb81333aee0c785b240d319719d"},
	{"C.2/19", "6545fc880c94a95198874296d5cc1fd161320b6920ce07787f86743b275d1ab3", "2f6d1f0434d8848c1177441f",
		"6787f3ea22c127aaf195", "195495860f04", "a254dad4f3f96b62b84dc40c84636a5ec12020ec8c2c"},
	{"C.2/20", "d1894728b3fed1473c528b8426a582995929a1499e9ad8780c8d63d0ab4149c0", "9f572c614b4745914474e7c7",
		"489c8fde2be2cf97e74e932d4ed87d", "c9882e5386fd9f92ec", "0df9e308678244c44bc0fd3dc6628dfe55ebb0b9fb2295c8c2"},
	{"C.2/21", "a44102952ef94b02b805249bac80e6f61455bfac8308a2d40d8c845117808235", "5c9e940fea2f582950a70d5a",
		"0da55210cc1c1b0abde3b2f204d1e9f8b06bc47f", "1db2316fd568378da107b52b",
		"8dbeb9f7255bf5769dd56692404099c2587f64979f21826706d497d5"},
	{"C.2/22", "9745b3d1ae06556fb6aa7890bebc18fe6b3db4da3d57aa94842b9803a96e07fb", "6de71860f762ebfbd08284e4",
		"f37de21c7ff901cfe8a69615a93fdf7a98cad481796245709f", "21702de0de18baa9c9596291b08466",
		"793576dfa5c0f88729a7ed3c2f1bffb3080d28f6ebb5d3648ce97bd5ba67fd"},
	{"C.2/23", "b18853f68d833640e42a3c02c25b64869e146d7b233987bddfc240871d7576f7", "028ec6eb5ea7e298342a94d4",
		"9c2159058b1f0fe91433a5bdc20e214eab7fecef4454a10ef0657df21ac7", "b202b370ef9768ec6561c4fe6b7e7296fa85",
		"857e16a64915a787637687db4a9519635cdd454fc2a154fea91f8363a39fec7d0a49"},
	{"C.2/24", "3c535de192eaed3822a2fbbe2ca9dfc88255e14a661b8aa82cc54236093bbc23", "688089e55540db1872504e1c",
		"734320ccc9d9bbbb19cb81b2af4ecbc3e72834321f7aa0f70b7282b4f33df23f167541", "ced532ce4159b035277d4dfbb7db62968b13cd4eec",
		"626660c26ea6612fb17ad91e8e767639edd6c9faee9d6c7029675b89eaf4ba1ded1a286594"},
	// C.3: the initial counters are 0xffffffff (the first 32 bits of the
	// tag); the second block must wrap to 0 without carrying.
	{"C.3/1", z(32), z(12), "", z(16) + "4db923dc793ee6497c76dcc03a98e108",
		"f3f80f2cf0cb2dd9c5984fcda908456cc537703b5ba70324a6793a7bf218d3eaffffffff000000000000000000000000"},
	{"C.3/2", z(32), z(12), "", "eb3640277c7ffd1303c7a542d02d3e4c0000000000000000",
		"18ce4f0b8cb4d0cac65fea8f79257b20888e53e72299e56dffffffff000000000000000000000000"},
}

// RFC 8452 Appendix C.1, first vectors, to show the 128-bit variant too.
var rfc8452AES128 = []sivVector{
	{"C.1/1", "01" + z(15), nonce1, "", "", "dc20e2d83f25705bb49e439eca56de25"},
	{"C.1/2", "01" + z(15), nonce1, "", "01" + z(7), "b5d839330ac7b786578782fff6013b815b287c22493a364c"},
}

func TestGCMSIVVectors(t *testing.T) {
	vecs := append(append([]sivVector{}, rfc8452AES256...), rfc8452AES128...)
	for _, v := range vecs {
		t.Run(v.name, func(t *testing.T) {
			key, nonce := unhex(t, v.key), unhex(t, v.nonce)
			aad, pt, want := unhex(t, v.aad), unhex(t, v.pt), unhex(t, v.result)
			g, err := newGCMSIV(key)
			if err != nil {
				t.Fatal(err)
			}
			got := g.Seal(nil, nonce, pt, aad)
			if !bytes.Equal(got, want) {
				t.Fatalf("Seal =\n%x\nwant\n%x", got, want)
			}
			// Appending to a prefix keeps the prefix.
			pre := []byte("prefix")
			got2 := g.Seal(pre, nonce, pt, aad)
			if !bytes.Equal(got2[:6], []byte("prefix")) || !bytes.Equal(got2[6:], want) {
				t.Fatalf("Seal with prefix = %x", got2)
			}
			back, err := g.Open(nil, nonce, want, aad)
			if err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("Open = %x, %v; want %x", back, err, pt)
			}
			// In place.
			buf := append([]byte(nil), want...)
			back, err = g.Open(buf[:0], nonce, buf, aad)
			if err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("in-place Open = %x, %v", back, err)
			}
			// Any flipped bit of ciphertext, tag, AAD or nonce is refused.
			for i := 0; i < len(want); i++ {
				bad := append([]byte(nil), want...)
				bad[i] ^= 0x40
				if _, err := g.Open(nil, nonce, bad, aad); err == nil {
					t.Fatalf("flipped result byte %d accepted", i)
				}
			}
			for i := 0; i < len(aad); i++ {
				bad := append([]byte(nil), aad...)
				bad[i] ^= 1
				if _, err := g.Open(nil, nonce, want, bad); err == nil {
					t.Fatalf("flipped AAD byte %d accepted", i)
				}
			}
			if _, err := g.Open(nil, nonce, want, append(aad, 0)); err == nil {
				t.Fatal("longer AAD accepted")
			}
			badNonce := append([]byte(nil), nonce...)
			badNonce[11] ^= 0x80
			if _, err := g.Open(nil, badNonce, want, aad); err == nil {
				t.Fatal("other nonce accepted")
			}
			if _, err := g.Open(nil, nonce, want[:len(want)-1], aad); err == nil {
				t.Fatal("truncated result accepted")
			}
		})
	}
}

func TestGCMSIVOpenFailureClearsOutput(t *testing.T) {
	g, err := newGCMSIV(unhex(t, key1))
	if err != nil {
		t.Fatal(err)
	}
	ct := g.Seal(nil, unhex(t, nonce1), []byte("secret secret secret"), nil)
	ct[0] ^= 1
	dst := make([]byte, 0, 64)
	if _, err := g.Open(dst, unhex(t, nonce1), ct, nil); err == nil {
		t.Fatal("tampered ciphertext accepted")
	}
	if bytes.Contains(dst[:cap(dst)], []byte("ecret")) {
		t.Fatal("plaintext of a forged message left in dst")
	}
	if _, err := g.Open(nil, unhex(t, nonce1), make([]byte, 15), nil); err == nil {
		t.Fatal("input shorter than a tag accepted")
	}
}

func TestGCMSIVBadKey(t *testing.T) {
	for _, n := range []int{0, 15, 24, 33} {
		if _, err := newGCMSIV(make([]byte, n)); err == nil {
			t.Fatalf("%d-byte key accepted", n)
		}
	}
}

// RFC 8452 section 7 (dot) and Appendix A (POLYVAL worked example).
func TestPolyval(t *testing.T) {
	a := loadElement(unhex(t, "66e94bd4ef8a2c3b884cfa59ca342b2e"))
	b := loadElement(unhex(t, "ff000000000000000000000000000000"))
	d := dot(a, b).bytes()
	if got := hex.EncodeToString(d[:]); got != "ebe563401e7e91ea3ad6426b8140c394" {
		t.Fatalf("dot = %s", got)
	}
	var h [16]byte
	copy(h[:], unhex(t, "25629347589242761d31f826ba4b757b"))
	p := newPolyval(&h)
	p.update(unhex(t, "4f4f95668c83dfb6401762bb2d01a262d1a24ddd2721d006bbe45f20d3c9f362"))
	s := p.sum()
	if got := hex.EncodeToString(s[:]); got != "f7a3b47b846119fae5b7866cf5e5b77e" {
		t.Fatalf("POLYVAL = %s", got)
	}
}

// clmul against a bit-by-bit reference on random and edge inputs.
func TestClmul(t *testing.T) {
	ref := func(x, y uint64) (hi, lo uint64) {
		for i := 0; i < 64; i++ {
			if y>>i&1 == 1 {
				lo ^= x << i
				if i > 0 {
					hi ^= x >> (64 - i)
				}
			}
		}
		return
	}
	cases := [][2]uint64{{0, 0}, {1, 1}, {^uint64(0), ^uint64(0)}, {1 << 63, 1 << 63}, {^uint64(0), 1}}
	var buf [16]byte
	for i := 0; i < 2000; i++ {
		_, _ = rand.Read(buf[:])
		cases = append(cases, [2]uint64{
			uint64(buf[0]) | uint64(buf[1])<<8 | uint64(buf[2])<<16 | uint64(buf[3])<<24 |
				uint64(buf[4])<<32 | uint64(buf[5])<<40 | uint64(buf[6])<<48 | uint64(buf[7])<<56,
			uint64(buf[8]) | uint64(buf[9])<<8 | uint64(buf[10])<<16 | uint64(buf[11])<<24 |
				uint64(buf[12])<<32 | uint64(buf[13])<<40 | uint64(buf[14])<<48 | uint64(buf[15])<<56,
		})
	}
	for _, c := range cases {
		wh, wl := ref(c[0], c[1])
		gh, gl := clmul(c[0], c[1])
		if gh != wh || gl != wl {
			t.Fatalf("clmul(%#x, %#x) = %#x:%#x, want %#x:%#x", c[0], c[1], gh, gl, wh, wl)
		}
	}
}

func BenchmarkGCMSIVOpen64(b *testing.B) {
	g, _ := newGCMSIV(make([]byte, 32))
	nonce := make([]byte, 12)
	ct := g.Seal(nil, nonce, make([]byte, 64), []byte("user@example.org"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Open(nil, nonce, ct, []byte("user@example.org")); err != nil {
			b.Fatal(err)
		}
	}
}
