package mockimap

import (
	"bufio"
	"errors"
	"io"
	"strconv"

	"github.com/switchyard-mail/switchyard/bench/internal/imapwire"
)

// maxCommand bounds one command: its lines and literals together.
const maxCommand = 64 << 10

var (
	errTooLong = errors.New("command too long")
	errSyntax  = errors.New("syntax error")
)

type tokKind uint8

const (
	tAtom   tokKind = iota // atoms, numbers, sequence sets, fetch items (brackets included)
	tString                // quoted string or literal
	tOpen                  // (
	tClose                 // )
)

type token struct {
	kind tokKind
	s    string
}

// commandReader splits the client's stream into commands.
type commandReader struct {
	br       *bufio.Reader
	bw       *bufio.Writer
	literalP bool // LITERAL+ advertised
}

// readLine reads one line without its CRLF (a bare LF is accepted). The
// result is only valid until the next read.
func (r *commandReader) readLine(limit int) ([]byte, error) {
	return imapwire.ReadLine(r.br, limit, errTooLong)
}

// cmdError is a problem with one command that leaves the stream usable:
// the session answers "tag BAD msg" and carries on.
type cmdError struct {
	tag, msg string
}

func (e *cmdError) Error() string { return e.msg }

// readCommand reads a tag and the tokens of one command, including its
// literals. A synchronizing literal gets a "+" continuation. Errors that
// leave the stream in an unknown state (line too long, I/O) are returned as
// is; the caller answers *cmdError with BAD and goes on.
func (r *commandReader) readCommand() (tag string, toks []token, err error) {
	budget := maxCommand
	line, err := r.readLine(budget)
	if err != nil {
		return "", nil, err
	}
	budget -= len(line) + 2
	// The tag: everything up to the first space.
	i := 0
	for i < len(line) && line[i] != ' ' {
		c := line[i]
		if c < 0x21 || c > 0x7e || c == '(' || c == ')' || c == '{' || c == '"' || c == '\\' || c == '%' || c == '*' || c == '+' {
			return "", nil, &cmdError{tag: "*", msg: "Invalid tag."}
		}
		i++
	}
	if i == 0 {
		return "", nil, &cmdError{tag: "*", msg: "Empty command line."}
	}
	tag = string(line[:i])
	rest := line[i:]
	var badLiteral string
	for {
		var lit int
		var sync bool
		toks, lit, sync, err = scan(rest, toks)
		if err != nil {
			return tag, nil, &cmdError{tag: tag, msg: "Syntax error in command."}
		}
		if lit < 0 {
			break
		}
		if lit > budget {
			if sync {
				return tag, nil, &cmdError{tag: tag, msg: "Literal too large."}
			}
			// The bytes are already on their way and cannot be skipped
			// within the bound: give up on the connection.
			return tag, nil, errTooLong
		}
		if sync {
			r.bw.WriteString("+ Ready for literal data\r\n")
			if err := r.bw.Flush(); err != nil {
				return tag, nil, err
			}
		} else if !r.literalP {
			badLiteral = "LITERAL+ is not supported."
		}
		buf := make([]byte, lit)
		if _, err := io.ReadFull(r.br, buf); err != nil {
			return tag, nil, err
		}
		budget -= lit
		toks = append(toks, token{tString, string(buf)})
		rest, err = r.readLine(budget)
		if err != nil {
			return tag, nil, err
		}
		budget -= len(rest) + 2
	}
	if badLiteral != "" {
		return tag, nil, &cmdError{tag: tag, msg: badLiteral}
	}
	return tag, toks, nil
}

// scan appends the tokens of line to toks. If the line ends with a literal
// announcement {n} or {n+}, lit is n (and sync tells which); otherwise lit
// is -1.
func scan(line []byte, toks []token) (_ []token, lit int, sync bool, err error) {
	i := 0
	for {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i >= len(line) {
			return toks, -1, false, nil
		}
		switch c := line[i]; c {
		case '(':
			toks = append(toks, token{kind: tOpen})
			i++
		case ')':
			toks = append(toks, token{kind: tClose})
			i++
		case '"':
			i++
			var s []byte
			for {
				if i >= len(line) {
					return toks, 0, false, errSyntax
				}
				c := line[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' {
					i++
					if i >= len(line) || (line[i] != '"' && line[i] != '\\') {
						return toks, 0, false, errSyntax
					}
					c = line[i]
				}
				s = append(s, c)
				i++
			}
			toks = append(toks, token{tString, string(s)})
		case '{':
			j := i + 1
			for j < len(line) && line[j] >= '0' && line[j] <= '9' {
				j++
			}
			if j == i+1 || j-i-1 > 9 {
				return toks, 0, false, errSyntax
			}
			n, _ := strconv.Atoi(string(line[i+1 : j]))
			sync = true
			if j < len(line) && line[j] == '+' {
				sync = false
				j++
			}
			if j != len(line)-1 || line[j] != '}' {
				return toks, 0, false, errSyntax
			}
			return toks, n, sync, nil
		default:
			j := i
			depth := 0
			for j < len(line) {
				c := line[j]
				if depth == 0 && (c == ' ' || c == '(' || c == ')') {
					break
				}
				if c == '[' {
					depth++
				} else if c == ']' && depth > 0 {
					depth--
				} else if depth == 0 && (c == '"' || c == '{' || c < 0x20 || c == 0x7f) {
					return toks, 0, false, errSyntax
				}
				j++
			}
			if depth != 0 {
				return toks, 0, false, errSyntax
			}
			toks = append(toks, token{tAtom, string(line[i:j])})
			i = j
		}
	}
}
