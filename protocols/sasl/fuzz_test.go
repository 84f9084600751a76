package sasl

import (
	"bytes"
	"testing"
)

// FuzzServer drives a random mechanism with random steps split on a 0xFF
// marker (the first step is an initial response when hasIR). It must never
// panic, must finish within the steps given, and what it accepts must be
// bounded and survive a re-encode round trip.
func FuzzServer(f *testing.F) {
	f.Add(uint8(0), true, []byte("\x00alice\x00secret"))
	f.Add(uint8(0), false, []byte("authz\x00alice\x00secret"))
	f.Add(uint8(1), false, []byte("alice\xffsecret"))
	f.Add(uint8(1), true, []byte("alice\xffsecret"))
	f.Add(uint8(2), true, []byte("n,a=u=2Cx,\x01host=h\x01port=143\x01auth=Bearer abc==\x01\x01"))
	f.Add(uint8(3), true, []byte("user=u\x01auth=Bearer t\x01\x01"))
	f.Add(uint8(4), true, []byte("x"))
	mechs := []string{Plain, Login, OAuthBearer, XOAuth2, "CRAM-MD5"}
	f.Fuzz(func(t *testing.T, m uint8, hasIR bool, data []byte) {
		s, err := NewServer(mechs[int(m)%len(mechs)])
		if err != nil {
			return
		}
		steps := bytes.Split(data, []byte{0xff})
		var ch []byte
		var done bool
		if hasIR {
			ch, done, err = s.Start(steps[0], true)
			steps = steps[1:]
		} else {
			ch, done, err = s.Start(nil, false)
		}
		for n := 0; !done && err == nil; n++ {
			if n > 2 {
				t.Fatalf("%s needs more than 3 responses", s.Mechanism())
			}
			if len(ch) > 64 {
				t.Fatalf("challenge too long: %q", ch)
			}
			if len(steps) == 0 {
				return
			}
			ch, done, err = s.Next(steps[0])
			steps = steps[1:]
		}
		if err != nil {
			if c := s.Credentials(); c.Username != "" || c.Password != "" || c.Token != "" {
				t.Fatalf("credentials kept after error: %+v", c)
			}
			return
		}
		c := s.Credentials()
		if len(c.Username) > MaxFieldLen || len(c.Password) > MaxFieldLen || len(c.Authzid) > MaxFieldLen || len(c.Token) > MaxTokenLen {
			t.Fatalf("accepted oversize credentials")
		}
		if c.Mechanism == Login {
			return
		}
		ir, err := InitialResponse(c)
		if err != nil {
			t.Fatalf("accepted %+v but cannot re-encode: %v", c, err)
		}
		s2, _ := NewServer(c.Mechanism)
		if _, done, err := s2.Start(ir, true); !done || err != nil || s2.Credentials() != c {
			t.Fatalf("re-encoded %q decodes to %+v (%v), want %+v", ir, s2.Credentials(), err, c)
		}
	})
}
