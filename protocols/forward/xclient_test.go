package forward

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

var postfixAttrs = []string{"NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT"}

func smtpInfo() Info {
	info := tlsInfo(587, "Sy1a2b")
	info.Helo, info.Proto, info.TTL = "client.example", "ESMTP", 5
	return info
}

func TestXClientPostfixIPv4(t *testing.T) {
	got := XClientArgs(smtpInfo(), postfixAttrs)
	want := []string{"XCLIENT ADDR=203.0.113.5 PORT=40000 DESTADDR=192.0.2.10 DESTPORT=587 HELO=client.example PROTO=ESMTP"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestXClientNeverLogin(t *testing.T) {
	info := smtpInfo()
	for _, adv := range [][]string{postfixAttrs, {"login", "LOGIN"}, {"LOGIN", "ADDR"}} {
		for _, line := range XClientArgs(info, adv) {
			if strings.Contains(strings.ToUpper(line), "LOGIN=") {
				t.Fatalf("LOGIN sent: %q", line)
			}
		}
	}
	if got := XClientArgs(info, []string{"LOGIN", "NAME", "FORWARD"}); got != nil {
		t.Fatalf("nothing sendable, got %q", got)
	}
}

func TestXClientIPv6Prefix(t *testing.T) {
	info := smtpInfo()
	info.Client = netip.MustParseAddrPort("[2001:db8::5]:40000")
	info.Local = netip.MustParseAddrPort("[::ffff:192.0.2.10]:25")
	got := XClientArgs(info, []string{"addr", "destaddr"})
	want := []string{"XCLIENT ADDR=IPV6:2001:db8::5 DESTADDR=192.0.2.10"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
	// The Dovecot POP3/ManageSieve dialect takes the bare address.
	info.Proto = ""
	got = XClientArgs(info, []string{"ADDR", "DESTADDR"})
	want = []string{"XCLIENT ADDR=2001:db8::5 DESTADDR=192.0.2.10"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
}

func TestXClientDovecotPOP3(t *testing.T) {
	info := smtpInfo()
	info.Proto = ""
	adv := ParseXClientCapability("XCLIENT")
	got := XClientArgs(info, adv)
	want := []string{"XCLIENT ADDR=203.0.113.5 PORT=40000 SESSION=Sy1a2b TTL=5"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
	// HELO and PROTO are SMTP-only, even if advertised.
	got = XClientArgs(info, []string{"HELO", "PROTO", "ADDR"})
	if !reflect.DeepEqual(got, []string{"XCLIENT ADDR=203.0.113.5"}) {
		t.Fatalf("got %q", got)
	}
}

func TestDovecotXClientArgs(t *testing.T) {
	info := smtpInfo() // Proto ESMTP: ignored
	got := DovecotXClientArgs(&info, ParseXClientCapability("XCLIENT"))
	if want := []string{"XCLIENT ADDR=203.0.113.5 PORT=40000 SESSION=Sy1a2b TTL=5"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
	if info.Proto != "ESMTP" {
		t.Fatal("info changed")
	}
	if DovecotXClientArgs(nil, []string{"ADDR"}) != nil || DovecotXClientArgs(&info, nil) != nil {
		t.Fatal("XCLIENT without info or without the capability")
	}
}

func TestXClientUnknownValues(t *testing.T) {
	all := []string{"ADDR", "PORT", "DESTADDR", "DESTPORT", "HELO", "PROTO", "SESSION", "TTL"}
	// SMTP: unknown addresses, ports and HELO are [UNAVAILABLE]; no session,
	// no TTL and an unknown PROTO are left out.
	got := XClientArgs(Info{Proto: "ESMTPSA"}, all)
	want := []string{"XCLIENT ADDR=[UNAVAILABLE] PORT=[UNAVAILABLE] DESTADDR=[UNAVAILABLE] DESTPORT=[UNAVAILABLE] HELO=[UNAVAILABLE]"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	// Dovecot POP3: nothing known, nothing sent.
	if got := XClientArgs(Info{}, all); got != nil {
		t.Fatalf("got %q", got)
	}
	// LMTP is a PROTO value Dovecot accepts; case is normalised.
	got = XClientArgs(Info{Proto: "lmtp"}, []string{"PROTO"})
	if !reflect.DeepEqual(got, []string{"XCLIENT PROTO=LMTP"}) {
		t.Fatalf("got %q", got)
	}
}

func TestXClientHeloEncoding(t *testing.T) {
	cases := []struct{ helo, want string }{
		{"mx.example", "mx.example"},
		{"[192.0.2.1]", "[192.0.2.1]"},
		{"a+b=c", "a+2Bb+3Dc"},
		{"has space", "[UNAVAILABLE]"},
		{"inject\r\nRCPT TO:<x>", "[UNAVAILABLE]"},
		{"caf\xc3\xa9", "[UNAVAILABLE]"},
		{strings.Repeat("h", maxHeloLen+1), "[UNAVAILABLE]"},
		{strings.Repeat("h", maxHeloLen), strings.Repeat("h", maxHeloLen)},
		// 255 octets that all need encoding would make 765: too long.
		{strings.Repeat("+", maxHeloLen), "[UNAVAILABLE]"},
	}
	for _, tc := range cases {
		info := smtpInfo()
		info.Helo = tc.helo
		got := XClientArgs(info, []string{"HELO"})
		if len(got) != 1 || got[0] != "XCLIENT HELO="+tc.want {
			t.Errorf("HELO %q: got %q", tc.helo, got)
		}
	}
}

func TestXtext(t *testing.T) {
	for in, want := range map[string]string{
		"":         "",
		"plain":    "plain",
		"a+b":      "a+2Bb",
		"k=v":      "k+3Dv",
		" ":        "+20",
		"\x00\x7f": "+00+7F",
		"\xff~!":   "+FF~!",
	} {
		if got := xtext(in); got != want {
			t.Errorf("xtext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestXClientSessionAndTTL(t *testing.T) {
	info := smtpInfo()
	info.SessionID = "a+b" // would need encoding: not sent anywhere
	info.TTL = 0
	if got := XClientArgs(info, []string{"SESSION", "TTL"}); got != nil {
		t.Fatalf("got %q", got)
	}
	info.SessionID = strings.Repeat("s", maxSessionIDLen)
	info.TTL = 9
	got := XClientArgs(info, []string{"SESSION", "TTL"})
	want := []string{"XCLIENT SESSION=" + info.SessionID + " TTL=9"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
}

func TestXClientLineSplit(t *testing.T) {
	info := smtpInfo()
	info.Client = netip.MustParseAddrPort("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535")
	info.Local = netip.MustParseAddrPort("[2001:db8:1111:2222:3333:4444:5555:6666]:65535")
	info.Helo = strings.Repeat("a+", 120) // 240 octets, 480 once xtext-encoded
	info.SessionID = strings.Repeat("s", maxSessionIDLen)
	info.TTL = 1000000
	adv := []string{"ADDR", "PORT", "DESTADDR", "DESTPORT", "HELO", "PROTO", "SESSION", "TTL"}
	lines := XClientArgs(info, adv)
	if len(lines) < 2 {
		t.Fatalf("expected a split, got %q", lines)
	}
	var attrs []string
	for _, l := range lines {
		if len(l) > MaxXClientLine {
			t.Fatalf("line of %d octets", len(l))
		}
		if !strings.HasPrefix(l, "XCLIENT ") {
			t.Fatalf("bad line %q", l)
		}
		for _, kv := range strings.Fields(l)[1:] {
			name, _, _ := strings.Cut(kv, "=")
			attrs = append(attrs, name)
		}
	}
	if !strings.Contains(strings.Join(lines, " "), "HELO="+strings.Repeat("a+2B", 120)) {
		t.Fatalf("HELO not encoded whole: %q", lines)
	}
	if !reflect.DeepEqual(attrs, adv) {
		t.Fatalf("attributes across lines %q, want %q", attrs, adv)
	}
}

func TestParseXClientCapability(t *testing.T) {
	cases := []struct {
		line string
		want []string
	}{
		{"XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT", []string{"NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT"}},
		{"250-XCLIENT ADDR PORT\r\n", []string{"ADDR", "PORT"}},
		{"250 xclient addr Port addr", []string{"ADDR", "PORT"}},
		{"XCLIENT", []string{"ADDR", "PORT", "SESSION", "TTL"}},
		{"XCLIENT\r\n", []string{"ADDR", "PORT", "SESSION", "TTL"}},
		{`"XCLIENT"`, []string{"ADDR", "PORT", "SESSION", "TTL"}},
		{`"XCLIENT" "ADDR PORT"`, []string{"ADDR", "PORT"}},
		{"XCLIENT ADDR b@d CLIENT-TRANSPORT", []string{"ADDR", "CLIENT-TRANSPORT"}},
		{"250-PIPELINING", nil},
		{"XCLIENTX ADDR", nil},
		{"", nil},
		{"250-", nil},
		{`"SASL" "PLAIN XCLIENT"`, nil},
	}
	for _, tc := range cases {
		got := ParseXClientCapability(tc.line)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestParseXClientCapabilityBounds(t *testing.T) {
	many := "XCLIENT" + strings.Repeat(" A", 100) // duplicates collapse
	if got := ParseXClientCapability(many); !reflect.DeepEqual(got, []string{"A"}) {
		t.Fatalf("got %q", got)
	}
	var b strings.Builder
	b.WriteString("XCLIENT")
	for i := range 100 {
		b.WriteString(" A" + strings.Repeat("B", i%5) + string(rune('A'+i%26)) + string(rune('A'+i/26)))
	}
	if got := ParseXClientCapability(b.String()); len(got) != maxXClientAttrs {
		t.Fatalf("%d attributes", len(got))
	}
	// A word cut at the scan limit is not taken.
	line := "XCLIENT " + strings.Repeat("x", maxCapabilityScan-len("XCLIENT ")-3) + " ADDRESSLONG"
	got := ParseXClientCapability(line)
	for _, a := range got {
		if strings.HasPrefix(a, "AD") {
			t.Fatalf("truncated word kept: %q", got)
		}
	}
}

func FuzzParseXClientCapability(f *testing.F) {
	f.Add("250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT")
	f.Add("XCLIENT")
	f.Add(`"XCLIENT"`)
	f.Add("250 XCLIENT addr\tport\r\n")
	f.Add("XCLIENT ADDR=1 \x00 \xff")
	f.Fuzz(func(t *testing.T, line string) {
		attrs := ParseXClientCapability(line)
		if len(attrs) > maxXClientAttrs {
			t.Fatalf("%d attributes", len(attrs))
		}
		seen := map[string]bool{}
		for _, a := range attrs {
			if !validAttrName(a) || a != strings.ToUpper(a) || seen[a] {
				t.Fatalf("bad attribute %q in %q", a, attrs)
			}
			seen[a] = true
		}
		// Whatever a backend advertises, the lines stay well-formed.
		info := smtpInfo()
		for _, proto := range []string{"ESMTP", ""} {
			info.Proto = proto
			for _, l := range XClientArgs(info, attrs) {
				if len(l) > MaxXClientLine || strings.ContainsAny(l, "\r\n\x00") ||
					!strings.HasPrefix(l, "XCLIENT ") || strings.Contains(strings.ToUpper(l), "LOGIN=") {
					t.Fatalf("bad line %q", l)
				}
			}
		}
	})
}

func FuzzXClientArgs(f *testing.F) {
	f.Add("client.example", "Sy1", "ESMTP", "2001:db8::1", uint16(25), 3)
	f.Add("a+b=c d\r\n", "a+b", "", "::ffff:1.2.3.4", uint16(0), 0)
	f.Fuzz(func(t *testing.T, helo, session, proto, addr string, port uint16, ttl int) {
		a, _ := netip.ParseAddr(addr)
		info := Info{Helo: helo, SessionID: session, Proto: proto, TTL: ttl}
		if a.IsValid() {
			info.Client = netip.AddrPortFrom(a, port)
		}
		for _, l := range XClientArgs(info, xclientOrder[:]) {
			if len(l) > MaxXClientLine || !strings.HasPrefix(l, "XCLIENT ") {
				t.Fatalf("bad line %q", l)
			}
			for _, kv := range strings.Split(l, " ")[1:] {
				name, value, ok := strings.Cut(kv, "=")
				if !ok || name == "" || value == "" || !printableNoSpace(value) {
					t.Fatalf("bad attribute %q in %q", kv, l)
				}
				if strings.Contains(value, "=") {
					t.Fatalf("unencoded '=' in %q", kv)
				}
			}
		}
	})
}
