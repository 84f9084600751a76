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
