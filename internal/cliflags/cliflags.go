// Package cliflags is the command line's first step shared by switchyard's
// small commands (switchyard-bench, switchyard-healthcheck): parse the
// flags, answer --help, refuse a bad flag or a stray argument.
package cliflags

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// Parse parses args into fs. It returns -1 when the command goes on, else
// the exit status: 0 after --help (pflag printed the usage), bad after an
// unknown or malformed flag or a positional argument, said on stderr as
// "<fs.Name()>: ...".
func Parse(fs *pflag.FlagSet, args []string, stderr io.Writer, bad int) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
		return bad
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return bad
	}
	return -1
}
