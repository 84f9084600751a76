package invalidate

import (
	"reflect"
	"testing"
)

// FuzzDecode: any text either fails to decode, or decodes to identifiers
// that encode back to a message decoding to the same identifiers.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"sy1 *", "sy1 alice@example.com", "sy1 a%20b %", "sy1 %FF%00", "sy1 a  b", "sy1 %4", "sy2 x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		ids, err := Decode(msg)
		if err != nil {
			return
		}
		var again []string
		for _, m := range Encode(ids...) {
			part, err := Decode(m)
			if err != nil {
				t.Fatalf("Decode(Encode(%q)) failed: %v", ids, err)
			}
			again = append(again, part...)
		}
		if !reflect.DeepEqual(again, ids) {
			t.Fatalf("%q -> %q -> %q", msg, ids, again)
		}
	})
}

// FuzzDecodeCommand: any text either fails to decode, or decodes to a
// command that encodes back (when it fits) to the same command.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		"sy1c op=hello from=mail1-ab12",
		"sy1c op=hold req=r1 from=a hold=30000 id=alice@example.com id=alice",
		"sy1c op=reply req=r1 from=b to=a kicked=2 held=1 released=1 err=x%20y",
		"sy1c op=kick id=% future=1",
		"sy1c op=kick hold=-1", "sy1c =x", "sy1c op", "sy1 alice", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		c, err := DecodeCommand(msg)
		if err != nil {
			return
		}
		m, err := EncodeCommand(c)
		if err != nil {
			return // too long once re-encoded: fine
		}
		again, err := DecodeCommand(m)
		if err != nil {
			t.Fatalf("DecodeCommand(EncodeCommand(%+v)) failed: %v", c, err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("%q -> %+v -> %q -> %+v", msg, c, m, again)
		}
	})
}
