package cliflags

import (
	"bytes"
	"testing"

	"github.com/spf13/pflag"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--n", "3"}, -1, ""},
		{[]string{"--help"}, 0, "Usage"},
		{[]string{"--nope"}, 7, "cmd: unknown flag: --nope\n"},
		{[]string{"stray"}, 7, "cmd: unexpected argument \"stray\"\n"},
	} {
		var stderr bytes.Buffer
		fs := pflag.NewFlagSet("cmd", pflag.ContinueOnError)
		fs.SetOutput(&stderr)
		fs.Int("n", 0, "a number")
		if code := Parse(fs, tc.args, &stderr, 7); code != tc.code || !bytes.Contains(stderr.Bytes(), []byte(tc.msg)) {
			t.Errorf("%v: %d, %q; want %d, %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
}
