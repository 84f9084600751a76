// Command gencert writes a throwaway self-signed certificate (cert.pem,
// key.pem) for localhost into the directory given as its argument.
package main

import (
	"fmt"
	"os"

	"github.com/switchyard-mail/switchyard/internal/testcert"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gencert DIR")
		os.Exit(2)
	}
	if _, _, err := testcert.WriteFiles(os.Args[1], "localhost", "127.0.0.1"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
