package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse and, when they decode, to
// Validate: neither may panic, hang or return an error that does not name
// a key.
func FuzzParse(f *testing.F) {
	f.Add([]byte(baseDoc))
	f.Add([]byte(""))
	f.Add([]byte("[server]\nhostname = 1\n"))
	f.Add([]byte("[server]\nshutdown_grace = 30\nbridge_idle = \"1d\"\n"))
	f.Add([]byte("[listener.\"a b\"]\nprotocol = \"imap\"\nbind = [\"[::1]:0\"]\nbogus = {x = 1}\n"))
	f.Add([]byte("[[http.route]]\nmatch = \"/{a,b\"\nextract = { from = \"body\", regex = \"(\" }\n"))
	f.Add([]byte("[cluster]\nnodes = [\"a\", \"a\"]\n[cluster.weights]\na = -1\n"))
	f.Add([]byte("[http]\nmax_head_size = \"99999999999GiB\"\n[mapping]\nsource = \"sql\"\n[mapping.sql]\nurl = \"mysql://u:p@h/db\"\n"))
	for _, glob := range []string{"../examples/*.toml", "testdata/*.toml"} {
		files, _ := filepath.Glob(glob)
		for _, path := range files {
			if b, err := os.ReadFile(path); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		err = c.Validate()
		var fe *FieldError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("Validate returned %T: %v", err, err)
		}
		for _, e := range fieldErrors(t, err) {
			if e.Key == "" || e.Msg == "" {
				t.Fatalf("error without key or message: %#v", e)
			}
		}
	})
}
