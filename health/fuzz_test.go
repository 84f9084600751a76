package health

import (
	"errors"
	"testing"
)

// FuzzParseGreeting: every input gets one of the three verdicts, and a
// verdict reached on a prefix does not change when more bytes follow.
func FuzzParseGreeting(f *testing.F) {
	for _, s := range []string{"* OK ready\r\n", "+OK\r\n", "220 x\r\n", "\"SIEVE\" \"x\"\r\nOK\r\n", "* BYE\r\n", "\r\n", "\"a\"\n\"b\"", ""} {
		for _, p := range []string{"imap", "pop3", "smtp", "managesieve", "other"} {
			f.Add(p, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, proto string, data []byte) {
		err := ParseGreeting(proto, data)
		if err != nil && !errors.Is(err, ErrNeedMore) && !errors.Is(err, ErrBadGreeting) {
			t.Fatalf("unexpected error %v", err)
		}
		if !errors.Is(err, ErrNeedMore) {
			if again := ParseGreeting(proto, append(append([]byte(nil), data...), "more\r\n"...)); again != err {
				t.Fatalf("verdict %v became %v with more data", err, again)
			}
		}
	})
}
