package invalidate

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEncodeDecode(t *testing.T) {
	for _, ids := range [][]string{
		{"alice@example.com"},
		{"a b", "100%", "*", "", "é@x", "line\nbreak"},
		{strings.Repeat("x", 1024), strings.Repeat("\xff", 1024)},
	} {
		msgs := Encode(ids...)
		var got []string
		for _, m := range msgs {
			if len(m) > MaxMessage {
				t.Fatalf("message of %d bytes", len(m))
			}
			for i := 0; i < len(m); i++ {
				if m[i] < 0x21 && m[i] != ' ' || m[i] > 0x7e {
					t.Fatalf("byte %#x in %q", m[i], m)
				}
			}
			part, err := Decode(m)
			if err != nil || len(part) == 0 {
				t.Fatalf("Decode(%q) = %q, %v", m, part, err)
			}
			got = append(got, part...)
		}
		if !reflect.DeepEqual(got, ids) {
			t.Fatalf("round trip %q -> %q -> %q", ids, msgs, got)
		}
	}
	if m := Encode(); len(m) != 1 || m[0] != "sy1 *" {
		t.Fatalf("Encode() = %q", m)
	}
	if ids, err := Decode("sy1 *"); ids != nil || err != nil {
		t.Fatalf("Decode(all) = %q, %v", ids, err)
	}
}

func TestEncodeSplits(t *testing.T) {
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = "user" + strings.Repeat("0", i%10) + "@example.com"
	}
	msgs := Encode(ids...)
	if len(msgs) < 2 {
		t.Fatalf("%d messages for %d ids", len(msgs), len(ids))
	}
	var got []string
	for _, m := range msgs {
		part, err := Decode(m)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, part...)
	}
	if !reflect.DeepEqual(got, ids) {
		t.Fatal("split messages do not add up")
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, m := range []string{"", "sy1", "sy1 ", "sy2 a", "sy1 a  b", "sy1 %4", "sy1 %zz", "sy1 a*", "sy1 a\n", "sy1 %4g", "sy1 * a"} {
		if ids, err := Decode(m); err == nil {
			t.Errorf("Decode(%q) = %q, want an error", m, ids)
		}
	}
}

func TestCommands(t *testing.T) {
	c := Command{Op: OpReply, Request: "r 1", From: "mail1", To: "mail2", IDs: []string{"alice@example.com", "alice", "a b"},
		Hold: 1500 * time.Millisecond, Kicked: 2, Held: 1, Released: 1, Err: "store: timeout"}
	m, err := EncodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCommand(m)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip %+v -> %q -> %+v, %v", c, m, got, err)
	}
	// Instances that only know invalidations ignore commands, and
	// commands are not invalidations.
	if _, err := Decode(m); err == nil {
		t.Fatalf("Decode accepted the command %q", m)
	}
	if _, err := DecodeCommand("sy1 alice@example.com"); err == nil {
		t.Fatal("DecodeCommand accepted an invalidation")
	}
	// Unknown keys are ignored: fields can be added.
	if got, err := DecodeCommand("sy1c op=hello from=x color=blue"); err != nil || got.Op != OpHello || got.From != "x" {
		t.Fatalf("unknown key: %+v, %v", got, err)
	}
	for _, bad := range []string{"sy1c", "sy1c ", "sy1c from=x", "sy1c op=kick hold=-5", "sy1c op=kick hold=x", "sy1c op=a  from=b", "sy1c op=%zz", "sy1c noequals"} {
		if c, err := DecodeCommand(bad); err == nil {
			t.Errorf("DecodeCommand(%q) = %+v", bad, c)
		}
	}
	many := Command{Op: OpKick}
	for i := range 2000 {
		many.IDs = append(many.IDs, "user"+strconv.Itoa(i)+"@example.com")
	}
	if _, err := EncodeCommand(many); err != ErrTooLong {
		t.Fatalf("2000 ids: %v", err)
	}
}
