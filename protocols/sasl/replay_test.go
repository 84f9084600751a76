package sasl

import "testing"

func TestReplayPendingThenOAuthError(t *testing.T) {
	for _, tc := range []struct {
		enc  Encoding
		mech string
		want []string // answers to successive challenges; "" ends (no answer due)
	}{
		{Base64Line, Login, []string{"dQ==\r\n", "cA==\r\n"}},
		{Base64Line, OAuthBearer, []string{"AQ==\r\n"}},
		{Base64Line, XOAuth2, []string{"\r\n"}},
		{Base64Line, Plain, nil},
		{QuotedBase64, OAuthBearer, []string{`"AQ=="` + "\r\n"}},
		{QuotedBase64, XOAuth2, []string{`""` + "\r\n"}},
	} {
		r := Replay{Encoding: tc.enc}
		var pending [][]byte
		if tc.mech == Login {
			pending = [][]byte{tc.enc.Append(nil, []byte("u")), tc.enc.Append(nil, []byte("p"))}
		}
		r.Start(tc.mech, pending...)
		for i, w := range tc.want {
			out, ok := r.Next([]byte("x"))
			if !ok || string(out) != "x"+w {
				t.Fatalf("%s %d: %q %v, want %q", tc.mech, i, out, ok, w)
			}
		}
		if out, ok := r.Next(nil); ok {
			t.Fatalf("%s: a challenge after the last answer got %q", tc.mech, out)
		}
	}
}

func TestReplayStartResets(t *testing.T) {
	var r Replay
	r.Start(OAuthBearer)
	if _, ok := r.Next(nil); !ok {
		t.Fatal("first error challenge unanswered")
	}
	r.Start(OAuthBearer)
	if out, ok := r.Next(nil); !ok || string(out) != "AQ==\r\n" {
		t.Fatalf("after Start: %q %v", out, ok)
	}
}

func TestEncodingAppend(t *testing.T) {
	if got := string(QuotedBase64.Append([]byte("A "), []byte("hi"))); got != "A \"aGk=\"\r\n" {
		t.Fatalf("quoted: %q", got)
	}
	if got := string(Base64Line.Append(nil, nil)); got != "\r\n" {
		t.Fatalf("empty line: %q", got)
	}
}

func TestDecodeBase64(t *testing.T) {
	for in, want := range map[string]string{"": "", "aGk=": "hi", "aGk": "hi", "AQ==": "\x01"} {
		if got, ok := DecodeBase64([]byte(in)); !ok || string(got) != want {
			t.Errorf("%q: %q %v", in, got, ok)
		}
	}
	for _, in := range []string{"a", "aGk*", "=aGk"} {
		if _, ok := DecodeBase64([]byte(in)); ok {
			t.Errorf("%q accepted", in)
		}
	}
}
