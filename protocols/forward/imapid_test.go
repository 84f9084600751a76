package forward

import (
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestIMAPIDParamsIPv4(t *testing.T) {
	info := tlsInfo(993, "Sy1a2b")
	info.TTL = 4
	client := []string{"name", "Thunderbird", "X-Originating-IP", "1.2.3.4", "version", "115.0", "x-session-id", "evil"}
	got := IMAPIDParams(info, client)
	want := []string{
		"name", "Thunderbird", "version", "115.0",
		"x-originating-ip", "203.0.113.5", "x-originating-port", "40000",
		"x-connected-ip", "192.0.2.10", "x-connected-port", "993",
		"x-session-ext-id", "Sy1a2b", "x-proxy-ttl", "4", "x-client-transport", "TLS",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestIMAPIDParamsIPv6AndMapped(t *testing.T) {
	info := Info{
		Client: netip.MustParseAddrPort("[::ffff:203.0.113.5]:1234"),
		Local:  netip.MustParseAddrPort("[2001:db8::10%eth0]:143"),
	}
	got := IMAPIDParams(info, nil)
	want := []string{
		"x-originating-ip", "203.0.113.5", "x-originating-port", "1234",
		"x-connected-ip", "2001:db8::10", "x-connected-port", "143",
		"x-client-transport", "insecure",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestIMAPIDParamsOmitsUnknown(t *testing.T) {
	// No addresses, unusable session ids, no TTL: only the transport.
	for _, sid := range []string{"", strings.Repeat("a", maxSessionIDLen+1), "a b", "a\r\nb", `a"b`} {
		got := IMAPIDParams(Info{SessionID: sid}, []string{"name", "x"})
		want := []string{"name", "x", "x-client-transport", "insecure"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("session %q: got %q", sid, got)
		}
	}
	// The longest accepted session id.
	sid := strings.Repeat("a", maxSessionIDLen)
	got := IMAPIDParams(Info{SessionID: sid}, nil)
	if len(got) != 4 || got[0] != "x-session-ext-id" || got[1] != sid {
		t.Fatalf("got %q", got)
	}
}

func TestIMAPIDParamsDropsBadClientPairs(t *testing.T) {
	long := strings.Repeat("n", MaxIDNameLen+1)
	client := []string{
		"name", "ok",
		"vendor", "a\r\nA2 LOGOUT",
		"", "empty name",
		long, "too long name",
		"big", strings.Repeat("v", MaxIDValueLen+1),
		"max", strings.Repeat("v", MaxIDValueLen),
		"8bit", "Mäil",
		"x-", "prefix only",
		"dangling",
	}
	got := IMAPIDParams(Info{}, client)
	want := []string{"name", "ok", "max", strings.Repeat("v", MaxIDValueLen), "x-client-transport", "insecure"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
}

func TestIMAPIDParamsPairLimit(t *testing.T) {
	var client []string
	for i := range 40 {
		client = append(client, "f"+strconv.Itoa(i), "v")
	}
	info := Info{
		Client:    netip.MustParseAddrPort("203.0.113.5:40000"),
		Local:     netip.MustParseAddrPort("192.0.2.10:993"),
		SessionID: "s", TTL: 3,
	}
	got := IMAPIDParams(info, client)
	if len(got) != 2*MaxIDPairs {
		t.Fatalf("%d elements, want %d", len(got), 2*MaxIDPairs)
	}
	// Our 7 pairs survive intact at the end; the client's are cut.
	if got[len(got)-2] != "x-client-transport" || got[2*(MaxIDPairs-7)] != "x-originating-ip" {
		t.Fatalf("own pairs not intact: %q", got[2*(MaxIDPairs-8):])
	}
	if got[2*(MaxIDPairs-8)] != "f22" {
		t.Fatalf("client pairs not kept in order: %q", got[:4])
	}
	// And the formatted command keeps all of them.
	if back, ok := parseIMAPID(FormatIMAPID(got)); !ok || !reflect.DeepEqual(back, got) {
		t.Fatalf("formatted list differs: %q", back)
	}
}

func TestFormatIMAPID(t *testing.T) {
	cases := []struct {
		name   string
		params []string
		want   string
	}{
		{"nil", nil, "NIL"},
		{"only invalid", []string{"a", "b\nc"}, "NIL"},
		{"dangling", []string{"name"}, "NIL"},
		{"simple", []string{"name", "switchyard", "version", "1"}, `("name" "switchyard" "version" "1")`},
		{"escaping", []string{"name", `say "hi" \o/`}, `("name" "say \"hi\" \\o/")`},
		{"empty value", []string{"name", ""}, `("name" "")`},
		{"drops CR LF NUL", []string{"a", "1\r\n", "b", "2\x00", "c", "3"}, `("c" "3")`},
		{"drops 8-bit", []string{"a", "caf\xc3\xa9", "b", "ok"}, `("b" "ok")`},
		{"drops bad name", []string{"a\rb", "1", strings.Repeat("n", 31), "2", "n", "3"}, `("n" "3")`},
		{"name of 30 octets", []string{strings.Repeat("n", 30), "v"}, `("` + strings.Repeat("n", 30) + `" "v")`},
		{"trailing dangling ignored", []string{"a", "1", "b"}, `("a" "1")`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatIMAPID(tc.params); got != tc.want {
				t.Fatalf("got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestFormatIMAPIDPairLimit(t *testing.T) {
	var p []string
	for i := range 35 {
		p = append(p, "f"+strconv.Itoa(i), "v")
	}
	s := FormatIMAPID(p)
	if !strings.Contains(s, `"f29" "v")`) || strings.Contains(s, `"f30"`) {
		t.Fatalf("limit not at 30 pairs: %s", s)
	}
}

// parseIMAPID is an independent reader of what FormatIMAPID writes, for the
// fuzz target: a parenthesised list of quoted strings, or NIL.
func parseIMAPID(s string) ([]string, bool) {
	if s == "NIL" {
		return nil, true
	}
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return nil, false
	}
	var out []string
	i := 1
	for i < len(s)-1 {
		if len(out) > 0 {
			if s[i] != ' ' {
				return nil, false
			}
			i++
		}
		if s[i] != '"' {
			return nil, false
		}
		i++
		var b strings.Builder
		for {
			if i >= len(s)-1 {
				return nil, false
			}
			c := s[i]
			if c == '"' {
				i++
				break
			}
			if c == '\\' {
				i++
				if i >= len(s)-1 || (s[i] != '"' && s[i] != '\\') {
					return nil, false
				}
				c = s[i]
			}
			b.WriteByte(c)
			i++
		}
		out = append(out, b.String())
	}
	return out, len(out)%2 == 0 && len(out) > 0
}

func FuzzFormatIMAPID(f *testing.F) {
	f.Add("name", "Thunderbird", "version", "115.0")
	f.Add("a\"b", `c\d`, "", "")
	f.Add("x", "1\r\nA1 LOGOUT", "y", "\x00")
	f.Add("x-originating-ip", "1.2.3.4", "name", "caf\xc3\xa9")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		in := []string{n1, v1, n2, v2}
		s := FormatIMAPID(in)
		if strings.ContainsAny(s, "\r\n\x00") {
			t.Fatalf("line break or NUL in %q", s)
		}
		got, ok := parseIMAPID(s)
		if !ok {
			t.Fatalf("unparseable output %q", s)
		}
		// What comes back is exactly the valid pairs, in order.
		var want []string
		for i := 0; i < len(in); i += 2 {
			if validIDName(in[i]) && validIDValue(in[i+1]) {
				want = append(want, in[i], in[i+1])
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip: got %q want %q (wire %q)", got, want, s)
		}
		for i := 0; i < len(got); i += 2 {
			if len(got[i]) > MaxIDNameLen || len(got[i+1]) > MaxIDValueLen {
				t.Fatalf("limit exceeded: %q", got[i:i+2])
			}
		}

		// The same strings as a client's ID never smuggle an x- name.
		params := IMAPIDParams(Info{}, in)
		for i := 0; i < len(params)-2; i += 2 {
			if hasPrefixFold(params[i], "x-") {
				t.Fatalf("client x- name kept: %q", params)
			}
		}
	})
}
