package gnetmock

import "bytes"

// MaxLine bounds a command line: a client that sends more without a line
// end is answered with a BYE and closed.
const MaxLine = 8192

// Greeting is the first thing a client reads. SASL-IR lets a login be one
// round trip, as against the mock backends.
const Greeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] gnetmock ready\r\n"

// Respond answers the complete lines at the start of in, appending the
// replies to out. It returns how many bytes of in it consumed, the replies,
// whether the connection is to be closed after they are sent (LOGOUT, or a
// line over MaxLine), and how many logins it accepted. Any credentials are
// accepted: this is the reactor's floor, not a server.
func Respond(in, out []byte) (consumed int, reply []byte, closeAfter bool, logins int) {
	for {
		i := bytes.IndexByte(in[consumed:], '\n')
		if i < 0 {
			if len(in)-consumed > MaxLine {
				out = append(out, "* BYE line too long\r\n"...)
				return len(in), out, true, logins
			}
			return consumed, out, false, logins
		}
		line := bytes.TrimSuffix(in[consumed:consumed+i], []byte{'\r'})
		consumed += i + 1
		if len(line) > MaxLine {
			out = append(out, "* BYE line too long\r\n"...)
			return consumed, out, true, logins
		}
		tag, rest, ok := bytes.Cut(line, []byte{' '})
		if !ok || len(tag) == 0 {
			out = append(out, "* BAD missing tag or command\r\n"...)
			continue
		}
		cmd, args, _ := bytes.Cut(rest, []byte{' '})
		switch {
		case bytes.EqualFold(cmd, []byte("LOGOUT")):
			out = append(out, "* BYE logging out\r\n"...)
			out = tagged(out, tag, "OK LOGOUT completed")
			return consumed, out, true, logins
		case bytes.EqualFold(cmd, []byte("AUTHENTICATE")):
			if _, ir, ok := bytes.Cut(args, []byte{' '}); !ok || len(ir) == 0 {
				out = tagged(out, tag, "NO [CANNOT] only AUTHENTICATE with SASL-IR here")
				continue
			}
			logins++
			out = tagged(out, tag, "OK [CAPABILITY IMAP4rev1] logged in")
		case bytes.EqualFold(cmd, []byte("LOGIN")):
			logins++
			out = tagged(out, tag, "OK [CAPABILITY IMAP4rev1] logged in")
		case bytes.EqualFold(cmd, []byte("CAPABILITY")):
			out = append(out, "* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN\r\n"...)
			out = tagged(out, tag, "OK CAPABILITY completed")
		case bytes.EqualFold(cmd, []byte("ID")):
			out = append(out, "* ID NIL\r\n"...)
			out = tagged(out, tag, "OK ID completed")
		default:
			out = tagged(out, tag, "OK done")
		}
	}
}

func tagged(out, tag []byte, text string) []byte {
	out = append(out, tag...)
	out = append(out, ' ')
	out = append(out, text...)
	return append(out, '\r', '\n')
}
