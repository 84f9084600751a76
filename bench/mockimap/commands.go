package mockimap

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"net"
	"strconv"
	"strings"
	"time"
)

// doID records the client's ID parameters: ("key" "value" ...) or NIL.
func (ss *session) doID(tag string, args []token) bool {
	bad := func() bool {
		ss.tagged(tag, "BAD", "ID needs a parenthesized list or NIL.")
		return false
	}
	if len(args) == 1 && args[0].kind == tAtom && strings.EqualFold(args[0].s, "NIL") {
		ss.id = nil
	} else {
		if len(args) < 2 || args[0].kind != tOpen || args[len(args)-1].kind != tClose {
			return bad()
		}
		inner := args[1 : len(args)-1]
		if len(inner)%2 != 0 {
			return bad()
		}
		id := make(map[string]string, len(inner)/2)
		for i := 0; i < len(inner); i += 2 {
			k, v := inner[i], inner[i+1]
			if k.kind != tString {
				return bad()
			}
			switch {
			case v.kind == tString:
				id[strings.ToLower(k.s)] = v.s
			case v.kind == tAtom && strings.EqualFold(v.s, "NIL"):
				id[strings.ToLower(k.s)] = ""
			default:
				return bad()
			}
		}
		ss.id = id
	}
	if ss.st != notAuthenticated {
		ss.record()
	}
	return true
}

// clientAddr is where the client says it is: ID, else PROXY, else TCP.
func (ss *session) clientAddr() string {
	if ip := ss.id["x-originating-ip"]; ip != "" {
		if port := ss.id["x-originating-port"]; port != "" {
			return net.JoinHostPort(ip, port)
		}
		return ip
	}
	if ss.proxied != "" {
		return ss.proxied
	}
	return ss.peer
}

func (ss *session) record() {
	srv := ss.srv
	var id map[string]string
	if ss.id != nil {
		id = make(map[string]string, len(ss.id))
		for k, v := range ss.id {
			id[k] = v
		}
	}
	addr := ss.clientAddr()
	srv.mu.Lock()
	srv.lastAddr[ss.user] = addr
	srv.lastID[ss.user] = id
	srv.mu.Unlock()
}

func (ss *session) startTLS(tag string) bool {
	ss.tagged(tag, "OK", "Begin TLS negotiation now")
	if ss.cr.bw.Flush() != nil {
		return false
	}
	if ss.cr.br.Buffered() > 0 {
		// A real client waits for the go-ahead: anything already here is
		// an injection attempt.
		return false
	}
	tc := tls.Server(ss.raw, ss.srv.cfg.TLS)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if tc.Handshake() != nil {
		return false
	}
	tc.SetDeadline(time.Time{})
	ss.conn = tc
	ss.tls = true
	ss.cr.br.Reset(tc)
	ss.cr.bw.Reset(tc)
	return true
}

func (ss *session) finishLogin(tag, user, pass string) {
	srv := ss.srv
	if g := srv.cfg.LoginGate; g != nil {
		g(user)
	}
	if p, ok := srv.users[user]; !ok || p != pass {
		srv.failures.Add(1)
		ss.tagged(tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed.")
		return
	}
	ss.st = authenticated
	ss.user = user
	srv.logins.Add(1)
	ss.record()
	ss.w(tag, " OK [CAPABILITY ", ss.capabilities(), "] Logged in\r\n")
	if srv.cfg.ByeAfterLogin[user] {
		ss.w("* BYE Too many connections for this user.\r\n")
		ss.bye = true
	}
}

// saslStep gets one client response: the initial response if given, else
// the answer to a "+ challenge" continuation. ok is false when the command
// was already answered (cancelled, bad base64) or the connection failed
// (then err is set).
func (ss *session) saslStep(tag, challenge string, ir *string) (resp []byte, ok bool, err error) {
	var in []byte
	if ir != nil {
		if *ir != "=" {
			in = []byte(*ir)
		}
	} else {
		ss.w("+ ", challenge, "\r\n")
		if err := ss.cr.bw.Flush(); err != nil {
			return nil, false, err
		}
		line, err := ss.cr.readLine(maxCommand)
		if err != nil {
			return nil, false, err
		}
		if len(line) == 1 && line[0] == '*' {
			ss.tagged(tag, "BAD", "AUTHENTICATE cancelled.")
			return nil, false, nil
		}
		in = line
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(in)))
	n, derr := base64.StdEncoding.Decode(out, in)
	if derr != nil {
		ss.tagged(tag, "BAD", "Invalid base64 data.")
		return nil, false, nil
	}
	return out[:n], true, nil
}

// saslSteps gets one client response per challenge, the initial response
// (if given) standing for the first. resp is nil when the command ended
// early; keep then says whether the session goes on (the command was
// answered: cancelled, bad base64) or not (the connection failed).
func (ss *session) saslSteps(tag string, ir *string, challenges ...string) (resp [][]byte, keep bool) {
	for _, ch := range challenges {
		r, ok, err := ss.saslStep(tag, ch, ir)
		if !ok {
			return nil, err == nil
		}
		resp = append(resp, r)
		ir = nil
	}
	return resp, true
}

func (ss *session) authenticate(tag string, args []token) bool {
	srv := ss.srv
	if len(args) < 1 || len(args) > 2 || args[0].kind != tAtom {
		ss.tagged(tag, "BAD", "AUTHENTICATE needs a mechanism.")
		return true
	}
	mech := strings.ToUpper(args[0].s)
	if !srv.capSet["AUTH="+mech] || (mech != "PLAIN" && mech != "LOGIN") {
		ss.tagged(tag, "NO", "Unsupported authentication mechanism.")
		return true
	}
	var ir *string
	if len(args) == 2 {
		if !srv.capSet["SASL-IR"] || args[1].kind != tAtom {
			ss.tagged(tag, "BAD", "Initial response not allowed.")
			return true
		}
		ir = &args[1].s
	}
	switch mech {
	case "PLAIN":
		resp, keep := ss.saslSteps(tag, ir, "")
		if resp == nil {
			return keep
		}
		parts := bytes.Split(resp[0], []byte{0})
		if len(parts) != 3 || (len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1])) {
			srv.failures.Add(1)
			ss.tagged(tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed.")
			return true
		}
		ss.finishLogin(tag, string(parts[1]), string(parts[2]))
	case "LOGIN":
		resp, keep := ss.saslSteps(tag, ir, "VXNlcm5hbWU6", "UGFzc3dvcmQ6")
		if resp == nil {
			return keep
		}
		ss.finishLogin(tag, string(resp[0]), string(resp[1]))
	}
	return true
}

func (ss *session) idle(tag string) bool {
	ss.w("+ idling\r\n")
	if ss.cr.bw.Flush() != nil {
		return false
	}
	line, err := ss.cr.readLine(maxCommand)
	if err != nil {
		return false
	}
	if !strings.EqualFold(string(line), "DONE") {
		ss.tagged(tag, "BAD", "Expected DONE.")
		return true
	}
	ss.tagged(tag, "OK", "IDLE terminated")
	return true
}

func (ss *session) status(tag string, args []token) {
	if len(args) < 3 || args[1].kind != tOpen || args[len(args)-1].kind != tClose {
		ss.tagged(tag, "BAD", "STATUS needs a mailbox and a list of items.")
		return
	}
	name, ok := astring(args[0])
	if !ok || !strings.EqualFold(name, "INBOX") {
		ss.tagged(tag, "NO", "[NONEXISTENT] Mailbox doesn't exist.")
		return
	}
	b := append(ss.scratch[:0], "* STATUS INBOX ("...)
	for i, it := range args[2 : len(args)-1] {
		if it.kind != tAtom {
			ss.tagged(tag, "BAD", "Invalid status item.")
			return
		}
		if i > 0 {
			b = append(b, ' ')
		}
		var v string
		switch strings.ToUpper(it.s) {
		case "MESSAGES":
			v = "1"
		case "RECENT":
			v = "0"
		case "UIDNEXT":
			v = "2"
		case "UIDVALIDITY":
			v = "1"
		case "UNSEEN":
			v = "1"
			if ss.seen {
				v = "0"
			}
		default:
			ss.tagged(tag, "BAD", "Invalid status item.")
			return
		}
		b = append(b, strings.ToUpper(it.s)...)
		b = append(b, ' ')
		b = append(b, v...)
	}
	b = append(b, ")\r\n"...)
	ss.scratch = b
	ss.cr.bw.Write(b)
	ss.tagged(tag, "OK", "STATUS completed")
}

func (ss *session) list(tag, cmd string, args []token) {
	if len(args) != 2 {
		ss.tagged(tag, "BAD", cmd+" needs a reference and a pattern.")
		return
	}
	pat, ok := astring(args[1])
	if !ok {
		ss.tagged(tag, "BAD", cmd+" needs a reference and a pattern.")
		return
	}
	if pat == "" {
		ss.w("* ", cmd, " (\\Noselect) \"/\" \"\"\r\n")
	} else if globMatch(strings.ToUpper(pat), "INBOX") {
		ss.w("* ", cmd, " (\\HasNoChildren) \"/\" INBOX\r\n")
	}
	ss.tagged(tag, "OK", cmd+" completed")
}

// globMatch matches IMAP list wildcards (* and %; there is no hierarchy).
func globMatch(pat, name string) bool {
	// match[j] says whether pat[:i] matches name[:j].
	match := make([]bool, len(name)+1)
	match[0] = true
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		if c == '*' || c == '%' {
			for j := 1; j <= len(name); j++ {
				match[j] = match[j] || match[j-1]
			}
			continue
		}
		for j := len(name); j >= 1; j-- {
			match[j] = match[j-1] && name[j-1] == c
		}
		match[0] = false
	}
	return match[len(name)]
}

// fetchItem is one data item of a FETCH command.
type fetchItem struct {
	name    string // as answered, e.g. "BODY[]" or "RFC822.SIZE"
	body    bool
	sec     section
	partial bool
	po, pn  int64
	peek    bool
}

func (ss *session) parseFetchItem(s string) (fetchItem, bool) {
	m := ss.srv.msg
	whole := section{0, m.size()}
	head := section{0, int64(len(m.header))}
	text := section{int64(len(m.header)), m.textSize()}
	u := strings.ToUpper(s)
	switch u {
	case "UID", "FLAGS", "RFC822.SIZE", "INTERNALDATE":
		return fetchItem{name: u}, true
	case "RFC822":
		return fetchItem{name: u, body: true, sec: whole}, true
	case "RFC822.HEADER":
		return fetchItem{name: u, body: true, sec: head, peek: true}, true
	case "RFC822.TEXT":
		return fetchItem{name: u, body: true, sec: text}, true
	}
	it := fetchItem{body: true}
	var rest string
	switch {
	case strings.HasPrefix(u, "BODY.PEEK["):
		rest, it.peek = u[len("BODY.PEEK["):], true
	case strings.HasPrefix(u, "BODY["):
		rest = u[len("BODY["):]
	default:
		return it, false
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return it, false
	}
	spec := rest[:end]
	switch spec {
	case "":
		it.sec = whole
	case "HEADER":
		it.sec = head
	case "TEXT", "1":
		it.sec = text
	default:
		return it, false
	}
	it.name = "BODY[" + spec + "]"
	if p := rest[end+1:]; p != "" {
		if len(p) < 5 || p[0] != '<' || p[len(p)-1] != '>' {
			return it, false
		}
		o, n, ok := strings.Cut(p[1:len(p)-1], ".")
		po, err1 := strconv.ParseInt(o, 10, 64)
		pn, err2 := strconv.ParseInt(n, 10, 64)
		if !ok || err1 != nil || err2 != nil || po < 0 || pn <= 0 {
			return it, false
		}
		it.partial, it.po, it.pn = true, po, pn
		it.name += "<" + o + ">"
	}
	return it, true
}

// seqHasOne says whether a sequence or UID set includes message 1 (which
// is also "*", the last one).
func seqHasOne(set string) (has, ok bool) {
	if set == "" {
		return false, false
	}
	num := func(s string) (int64, bool) {
		if s == "*" {
			return 1, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && n > 0 && s[0] != '+'
	}
	for _, part := range strings.Split(set, ",") {
		a, b, isRange := strings.Cut(part, ":")
		lo, ok1 := num(a)
		hi := lo
		ok2 := true
		if isRange {
			hi, ok2 = num(b)
		}
		if !ok1 || !ok2 {
			return false, false
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if lo <= 1 && 1 <= hi {
			has = true
		}
	}
	return has, true
}

func (ss *session) fetch(tag, cmd string, args []token, uid bool) bool {
	bad := func(msg string) bool {
		ss.tagged(tag, "BAD", msg)
		return true
	}
	if len(args) < 2 || args[0].kind != tAtom {
		return bad(cmd + " needs a sequence set and data items.")
	}
	has, ok := seqHasOne(args[0].s)
	if !ok {
		return bad("Invalid sequence set.")
	}
	var raw []token
	if args[1].kind == tOpen {
		if args[len(args)-1].kind != tClose || len(args) < 4 {
			return bad("Invalid fetch items.")
		}
		raw = args[2 : len(args)-1]
	} else if len(args) == 2 {
		raw = args[1:2]
	} else {
		return bad("Invalid fetch items.")
	}
	var items []fetchItem
	if uid {
		items = append(items, fetchItem{name: "UID"})
	}
	for _, t := range raw {
		if t.kind != tAtom {
			return bad("Invalid fetch item.")
		}
		switch strings.ToUpper(t.s) {
		case "FAST":
			items = append(items, fetchItem{name: "FLAGS"}, fetchItem{name: "INTERNALDATE"}, fetchItem{name: "RFC822.SIZE"})
			continue
		case "UID":
			if uid {
				continue
			}
		}
		it, ok := ss.parseFetchItem(t.s)
		if !ok {
			return bad("Invalid fetch item " + strconv.Quote(t.s) + ".")
		}
		items = append(items, it)
	}
	if has {
		if err := ss.writeFetch(items); err != nil {
			return false
		}
	}
	ss.tagged(tag, "OK", cmd+" completed")
	return true
}

func (ss *session) writeFetch(items []fetchItem) error {
	m := ss.srv.msg
	for _, it := range items {
		if it.body && !it.peek && !ss.rdonly {
			ss.seen = true
		}
	}
	bw := ss.cr.bw
	b := append(ss.scratch[:0], "* 1 FETCH ("...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, it.name...)
		b = append(b, ' ')
		switch {
		case it.name == "UID":
			b = append(b, '1')
		case it.name == "FLAGS":
			if ss.seen {
				b = append(b, `(\Seen)`...)
			} else {
				b = append(b, "()"...)
			}
		case it.name == "RFC822.SIZE":
			b = strconv.AppendInt(b, m.size(), 10)
		case it.name == "INTERNALDATE":
			b = append(b, `"01-Jan-2024 00:00:00 +0000"`...)
		case it.body:
			off, n := it.sec.off, it.sec.n
			if it.partial {
				skip := min(it.po, n)
				off, n = off+skip, min(n-skip, it.pn)
			}
			b = appendLiteralHead(b, n)
			if _, err := bw.Write(b); err != nil {
				return err
			}
			b = b[:0]
			if err := m.writeRange(bw, off, n); err != nil {
				return err
			}
		}
	}
	b = append(b, ")\r\n"...)
	ss.scratch = b[:0]
	_, err := bw.Write(b)
	return err
}
