package imapload

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// MaxAccounts bounds a users file.
const MaxAccounts = 10_000_000

// ReadAccountsFile reads "user password" lines (the password is the rest of
// the line after the first run of blanks); blank lines and lines starting
// with # are skipped.
func ReadAccountsFile(path string) ([]Account, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Account
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			return nil, fmt.Errorf("%s:%d: want \"user password\"", path, n)
		}
		out = append(out, Account{User: line[:i], Password: strings.TrimLeft(line[i:], " \t")})
		if len(out) > MaxAccounts {
			return nil, fmt.Errorf("%s: more than %d accounts", path, MaxAccounts)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no accounts", path)
	}
	return out, nil
}
