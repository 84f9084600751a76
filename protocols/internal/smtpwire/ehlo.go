package smtpwire

import "strings"

// EHLOReply builds a whole multi-line EHLO reply: the host name, the
// configured extensions (those the proxy must not claim dropped),
// ENHANCEDSTATUSCODES, STARTTLS when offered, and AUTH with mechs if any.
func EHLOReply(host string, extensions []string, startTLS bool, mechs []string) []byte {
	lines := []string{host}
	enhanced := false
	for _, e := range extensions {
		e = strings.TrimSpace(e)
		kw, _, _ := strings.Cut(e, " ")
		switch {
		case !validExtension(e),
			strings.EqualFold(kw, "STARTTLS"),
			strings.EqualFold(kw, "AUTH"),
			len(kw) > 5 && strings.EqualFold(kw[:5], "AUTH="),
			strings.EqualFold(kw, "XCLIENT"),
			strings.EqualFold(kw, "XFORWARD"):
			continue
		}
		if strings.EqualFold(kw, "ENHANCEDSTATUSCODES") {
			if enhanced {
				continue
			}
			enhanced = true
		}
		lines = append(lines, e)
	}
	if !enhanced {
		// Every reply carries an enhanced code: say so.
		lines = append(lines, "ENHANCEDSTATUSCODES")
	}
	if startTLS {
		lines = append(lines, "STARTTLS")
	}
	if len(mechs) > 0 {
		lines = append(lines, "AUTH "+strings.Join(mechs, " "))
	}
	var b []byte
	for i, l := range lines {
		b = append(b, "250"...)
		if i == len(lines)-1 {
			b = append(b, ' ')
		} else {
			b = append(b, '-')
		}
		b = append(b, l...)
		b = append(b, "\r\n"...)
	}
	return b
}

// validExtension: ehlo-keyword *(SP ehlo-param), RFC 5321 section 4.1.1.1:
// the keyword is letters, digits and "-" starting with a letter or digit;
// parameters are printable ASCII.
func validExtension(e string) bool {
	kw, params, _ := strings.Cut(e, " ")
	if kw == "" || kw[0] == '-' || len(e) > 500 {
		return false
	}
	for i := 0; i < len(kw); i++ {
		c := kw[i]
		if !(c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'z' || c == '-') {
			return false
		}
	}
	for i := 0; i < len(params); i++ {
		if params[i] < ' ' || params[i] > '~' {
			return false
		}
	}
	return true
}

// ValidDomainText: printable ASCII without spaces, as a host name in a
// greeting, an EHLO line or an EHLO argument must be.
func ValidDomainText(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
