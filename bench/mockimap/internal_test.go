package mockimap

import (
	"bytes"
	"testing"
)

func TestWriteRangeConsistent(t *testing.T) {
	for _, size := range []int{0, 300, 402, 403, 480, 481, 65520 + 400, 200000} {
		m := newMessage("x", size)
		var whole bytes.Buffer
		if err := m.writeRange(&whole, 0, m.size()); err != nil {
			t.Fatal(err)
		}
		if int64(whole.Len()) != m.size() {
			t.Fatalf("size %d: wrote %d, size() %d", size, whole.Len(), m.size())
		}
		if size > 400 && (whole.Len() < size || whole.Len() > size+1) {
			t.Fatalf("size %d: message is %d bytes", size, whole.Len())
		}
		w := whole.Bytes()
		for _, r := range [][2]int64{{0, 1}, {5, 100}, {m.size() - 3, 3}, {m.size() / 2, m.size() / 3}, {int64(len(m.header)) - 1, 70000}} {
			off, n := r[0], min(r[1], m.size()-r[0])
			if off < 0 || n <= 0 {
				continue
			}
			var b bytes.Buffer
			m.writeRange(&b, off, n)
			if !bytes.Equal(b.Bytes(), w[off:off+n]) {
				t.Fatalf("size %d: range %d+%d differs", size, off, n)
			}
		}
	}
}

func TestGlobAndSequenceSets(t *testing.T) {
	for pat, want := range map[string]bool{"*": true, "%": true, "INBOX": true, "IN*": true, "*X": true, "I%B%X": true, "INBOX*": true, "INBOXES": false, "A*": false, "": false} {
		if globMatch(pat, "INBOX") != want {
			t.Errorf("globMatch(%q) != %v", pat, want)
		}
	}
	for set, want := range map[string][2]bool{"1": {true, true}, "*": {true, true}, "1:*": {true, true}, "2:5": {false, true}, "5:1": {true, true}, "3,1": {true, true}, "0": {false, false}, "a": {false, false}, "": {false, false}, "1:": {false, false}} {
		has, ok := seqHasOne(set)
		if has != want[0] || ok != want[1] {
			t.Errorf("seqHasOne(%q) = %v,%v", set, has, ok)
		}
	}
}

func TestScanTokens(t *testing.T) {
	toks, lit, _, err := scan([]byte(` FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] "a\"b" NIL) {12+}`), nil)
	if err != nil || lit != 12 || len(toks) != 7 || toks[3].s != "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]" || toks[4].s != `a"b` || toks[4].kind != tString {
		t.Fatalf("%+v %d %v", toks, lit, err)
	}
	for _, bad := range []string{` "open`, ` a{5}b`, ` BODY[`, ` {x}`, ` "bad\escape"`} {
		if _, _, _, err := scan([]byte(bad), nil); err == nil {
			t.Errorf("scan(%q) accepted", bad)
		}
	}
}
