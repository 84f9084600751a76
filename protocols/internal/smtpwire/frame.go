package smtpwire

import "bytes"

// SplitVerb splits "VERB args" at the first space; args keep inner spaces
// but lose leading and trailing ones.
func SplitVerb(l []byte) (verb, arg []byte) {
	i := bytes.IndexByte(l, ' ')
	if i < 0 {
		return l, nil
	}
	return l[:i], bytes.Trim(l[i+1:], " ")
}
