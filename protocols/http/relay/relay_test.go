package relay

import (
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/http/codec"
	"github.com/switchyard-mail/switchyard/protocols/http/rules"
	"github.com/switchyard-mail/switchyard/protocols/http/rules/rulestest"
)

var testRoutes = map[string]string{
	"alice@a.example": "A", "al@a.example": "A", "bob@b.example": "B", "temp@x.example": "?",
}

func testConfig(t testing.TB) RelayConfig {
	return RelayConfig{
		Routes:             rulestest.MustRoutes(t, rulestest.Specs...),
		DefaultDestination: "D",
		Forwarded:          map[string]bool{"P": true},
	}
}

const ok200 = "HTTP/1.1 200 OK|Content-Length: 2||ok"

func TestRelayRoutesByBasicAndReusesTheLeg(t *testing.T) {
	alice, bob := rulestest.Basic("alice@a.example", "pw"), rulestest.Basic("bob@b.example", "pw")
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.client("GET /jmap/session HTTP/1.1|Host: mail.example|Authorization: " + alice + "||")
		e.expect("", "GET /jmap/session HTTP/1.1|Host: mail.example|Authorization: "+alice+"||",
			"route alice@a.example", "connect A")
		if !e.r.AwaitingBackend() {
			e.t.Fatal("not awaiting the response")
		}
		e.answers(ok200)
		if e.r.AwaitingBackend() {
			e.t.Fatal("awaiting after the response")
		}
		// The same destination: the leg is reused.
		e.client("GET /jmap/x HTTP/1.1|Host: mail.example|Authorization: " + alice + "||")
		e.expect("", "GET /jmap/x HTTP/1.1|Host: mail.example|Authorization: "+alice+"||", "route alice@a.example")
		e.answers("HTTP/1.1 204 No Content||")
		// Another destination on the same client connection: a new leg,
		// the old one closed.
		e.client("POST /dav/cal HTTP/1.1|Host: mail.example|Authorization: " + bob + "|Content-Length: 5||hello")
		e.expect("", "POST /dav/cal HTTP/1.1|Host: mail.example|Authorization: "+bob+"|Content-Length: 5||hello",
			"route bob@b.example", "connect B")
		if len(e.legs) != 2 || !e.legs[0].closed || e.legs[1].closed {
			e.t.Fatalf("legs: %+v", e.legs)
		}
		e.answers("HTTP/1.1 201 Created|Content-Length: 0||")
		// And back.
		e.client("GET /jmap/y HTTP/1.1|Host: mail.example|Authorization: " + alice + "||")
		e.expect("", "GET /jmap/y HTTP/1.1|Host: mail.example|Authorization: "+alice+"||", "route alice@a.example", "connect A")
	})
}

func TestRelayRoutesByBearer(t *testing.T) {
	cfg := testConfig(t)
	tests := []struct {
		name, auth, ident string
		claim             string
	}{
		{"jwt email", "Bearer " + rulestest.JWT(`{"sub":"1","email":"alice@a.example"}`), "alice@a.example", ""},
		{"jwt configured claim", "Bearer " + rulestest.JWT(`{"email":"bob@b.example","acct":"al@a.example"}`), "al@a.example", "acct"},
		{"stalwart sw1", "bearer " + rulestest.SW1("bob@b.example"), "bob@b.example", ""},
		{"basic, lowercase scheme", "basic " + base64.StdEncoding.EncodeToString([]byte("alice@a.example:p:w")), "alice@a.example", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.IdentifierClaim = tt.claim
			relayModes(t, c, testRoutes, func(e *relayEngine) {
				e.client("GET /jmap/api HTTP/1.1|Host: m|Authorization: " + tt.auth + "||")
				ev := e.TakeEvents()
				if len(ev) < 1 || ev[0] != "route "+tt.ident {
					e.t.Fatalf("events %q, want route %s", ev, tt.ident)
				}
			})
		})
	}
}

// TestRelayVerifiesBearer: with VerifyBearer, a token that fails gets 401
// invalid_token on any route, pinned ones included, and no backend sees
// the request; a good one is routed as usual.
func TestRelayVerifiesBearer(t *testing.T) {
	cfg := testConfig(t)
	good := rulestest.JWT(`{"email":"alice@a.example"}`)
	cfg.VerifyBearer = func(tok string) error {
		if tok != good {
			return errors.New("bad signature")
		}
		return nil
	}
	relayModes(t, cfg, testRoutes, func(e *relayEngine) {
		e.client("GET /pinned/x HTTP/1.1|Host: m|Authorization: Bearer " + rulestest.JWT(`{"email":"bob@b.example"}`) + "||")
		got := e.takeClient()
		if !strings.HasPrefix(got, "HTTP/1.1 401 ") || !strings.Contains(got, `WWW-Authenticate: Bearer error="invalid_token"`) {
			e.t.Fatalf("forged token: %q", got)
		}
		if len(e.legs) != 0 {
			e.t.Fatalf("a backend was contacted: %+v", e.legs)
		}
		e.client("GET /jmap/api HTTP/1.1|Host: m|Authorization: Bearer " + good + "||")
		if ev := e.TakeEvents(); len(ev) < 1 || ev[0] != "route alice@a.example" {
			e.t.Fatalf("verified token: events %q", ev)
		}
	})
}

// TestRelayVerifiesQueryAndFormTokens: with VerifyBearer, a token in the
// access_token query parameter or in the access_token field of a form
// body (RFC 6750 sections 2.2 and 2.3) is verified like one in
// Authorization: a forged one gets 401 and no backend sees the request;
// a verified one goes through with its body intact.
func TestRelayVerifiesQueryAndFormTokens(t *testing.T) {
	cfg := testConfig(t)
	cfg.BodyExtractCap = 256
	good := rulestest.JWT(`{"email":"alice@a.example"}`)
	forged := rulestest.JWT(`{"email":"bob@b.example"}`)
	cfg.VerifyBearer = func(tok string) error {
		if tok != good {
			return errors.New("bad signature")
		}
		return nil
	}
	const form = "Content-Type: application/x-www-form-urlencoded"
	refused := func(e *relayEngine, what string, status int, challenge string) {
		e.t.Helper()
		got := e.takeClient()
		if !strings.HasPrefix(got, "HTTP/1.1 "+itoa(status)+" ") || challenge != "" && !strings.Contains(got, "WWW-Authenticate: "+challenge+"\r\n") {
			e.t.Fatalf("%s: %q, want %d %s", what, got, status, challenge)
		}
		if len(e.legs) != 0 || e.TakeSent() != "" {
			e.t.Fatalf("%s: a backend was contacted: %+v", what, e.legs)
		}
	}
	for _, q := range []string{
		"access_token=" + forged,
		"x=1&access%5Ftoken=" + forged,
		"x=1;ACCESS_TOKEN=" + forged,
		"access_token=" + good + "&access_token=" + forged,
	} {
		t.Run("query "+q[:12], func(t *testing.T) {
			relayModes(t, cfg, testRoutes, func(e *relayEngine) {
				e.client("GET /pinned/x?" + q + " HTTP/1.1|Host: m||")
				if strings.Contains(q, good) {
					refused(e, q, 400, rules.InvalidRequestChallenge)
				} else {
					refused(e, q, 401, rules.InvalidTokenChallenge)
				}
				// The connection goes on: nothing was left unread.
				e.client("GET /pinned/y?access_token=" + good + " HTTP/1.1|Host: m||")
				e.expect("", "GET /pinned/y?access_token="+good+" HTTP/1.1|Host: m|Forwarded: for=\"192.0.2.7:4711\";proto=http;host=m|X-Forwarded-For: 192.0.2.7|X-Forwarded-Proto: http||", "connect P")
			})
		})
	}
	t.Run("query and header disagree", func(t *testing.T) {
		relayModes(t, cfg, testRoutes, func(e *relayEngine) {
			e.client("GET /jmap/x?access_token=" + forged + " HTTP/1.1|Host: m|Authorization: Bearer " + good + "||")
			refused(e, "two tokens", 400, rules.InvalidRequestChallenge)
		})
	})
	t.Run("form body", func(t *testing.T) {
		relayModes(t, cfg, testRoutes, func(e *relayEngine) {
			body := "a=1&access_token=" + forged
			e.client("POST /pinned/x HTTP/1.1|Host: m|" + form + "|Content-Length: " + itoa(len(body)) + "||" + body)
			refused(e, "forged in the body", 401, rules.InvalidTokenChallenge)
			// 100-continue: the proxy asks for the body itself.
			e.client("POST /dflt/x HTTP/1.1|Host: m|Content-Type: Application/X-WWW-Form-Urlencoded; charset=utf-8|Expect: 100-continue|Content-Length: " + itoa(len(body)) + "||")
			if got := e.takeClient(); got != "HTTP/1.1 100 Continue\r\n\r\n" {
				e.t.Fatalf("100-continue: %q", got)
			}
			e.client(body)
			refused(e, "forged in the body after 100", 401, rules.InvalidTokenChallenge)
			// A body route: the token is checked before the identifier
			// is taken from the body.
			login := "user=bob%40b.example&access_token=" + forged
			e.client("POST /login HTTP/1.1|Host: m|" + form + "|Content-Length: " + itoa(len(login)) + "||" + login)
			refused(e, "forged in a body route", 401, rules.InvalidTokenChallenge)
			// A verified one: forwarded, body intact.
			ok := "a=1&access_token=" + good
			e.client("POST /pinned/x HTTP/1.1|Host: m|" + form + "|Content-Length: " + itoa(len(ok)) + "||" + ok)
			e.expect("", "POST /pinned/x HTTP/1.1|Host: m|"+form+"|Content-Length: "+itoa(len(ok))+"|Forwarded: for=\"192.0.2.7:4711\";proto=http;host=m|X-Forwarded-For: 192.0.2.7|X-Forwarded-Proto: http||"+ok, "connect P")
			e.answers(ok200)
		})
	})
	t.Run("form body unreadable ahead", func(t *testing.T) {
		relayModes(t, cfg, testRoutes, func(e *relayEngine) {
			e.client("POST /pinned/x HTTP/1.1|Host: m|" + form + "|Transfer-Encoding: chunked||5|a=1&b|0||")
			refused(e, "chunked form", 411, "")
			if !e.closed {
				e.t.Fatal("the connection stays open with a chunked body unread")
			}
		})
		relayModes(t, cfg, testRoutes, func(e *relayEngine) {
			big := strings.Repeat("x", 300)
			e.client("POST /pinned/x HTTP/1.1|Host: m|" + form + "|Content-Length: 300||" + big)
			refused(e, "form over the cap", 413, "")
		})
	})
	t.Run("not a form", func(t *testing.T) {
		// RFC 6750 section 2.2 reads access_token from form bodies only:
		// other bodies go through unread (the backend's own check stays).
		relayModes(t, cfg, testRoutes, func(e *relayEngine) {
			body := "access_token=" + forged
			e.client("POST /pinned/x HTTP/1.1|Host: m|Content-Type: text/plain|Content-Length: " + itoa(len(body)) + "||" + body)
			if ev := e.TakeEvents(); len(ev) != 1 || ev[0] != "connect P" {
				e.t.Fatalf("events %q", ev)
			}
		})
	})
}

func TestRelayRoutesByQueryHeaderBody(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.client("GET /q/download?x=1&account=bob%40b.example&account=alice%40a.example HTTP/1.1|Host: m||")
		e.expect("", "GET /q/download?x=1&account=bob%40b.example&account=alice%40a.example HTTP/1.1|Host: m||",
			"route bob@b.example", "connect B")
		e.answers(ok200)

		e.client("GET /h/x HTTP/1.1|Host: m|X-Account: user=alice@a.example||")
		e.expect("", "GET /h/x HTTP/1.1|Host: m|X-Account: user=alice@a.example||", "route alice@a.example", "connect A")
		e.answers(ok200)

		// The body is read ahead (it is under the cap), then forwarded
		// after the head.
		body := `{"user": "bob@b.example", "password": "x"}`
		e.client("POST /login HTTP/1.1|Host: m|Content-Type: application/json|Content-Length: " + itoa(len(body)) + "||" + body)
		e.expect("", "POST /login HTTP/1.1|Host: m|Content-Type: application/json|Content-Length: "+itoa(len(body))+"||"+body,
			"route bob@b.example", "connect B")
		e.answers(ok200)

		// Expect: 100-continue: the proxy asks for the body itself, and
		// the backend gets it with the head, without Expect.
		e.client("POST /login HTTP/1.1|Host: m|Expect: 100-continue|Content-Length: " + itoa(len(body)) + "||")
		e.expect("HTTP/1.1 100 Continue||", "")
		e.client(body)
		e.expect("", "POST /login HTTP/1.1|Host: m|Content-Length: "+itoa(len(body))+"||"+body, "route bob@b.example")
		e.answers(ok200)

		// Nothing in the body: the default destination.
		e.client("POST /login HTTP/1.1|Host: m|Content-Length: 2||{}")
		e.expect("", "POST /login HTTP/1.1|Host: m|Content-Length: 2||{}", "connect D")
		e.answers(ok200)
	})
}

func TestRelayBodyExtractLimits(t *testing.T) {
	cfg := testConfig(t)
	cfg.BodyExtractCap = 16
	relayModes(t, cfg, testRoutes, func(e *relayEngine) {
		// Over the cap: not read ahead, the fallback decides, and the body
		// streams.
		body := `{"user":"bob@b.example"}`
		e.client("POST /login HTTP/1.1|Host: m|Content-Length: " + itoa(len(body)) + "||" + body)
		e.expect("", "POST /login HTTP/1.1|Host: m|Content-Length: "+itoa(len(body))+"||"+body, "connect D")
		e.answers(ok200)
		// Chunked: declined, the fallback decides.
		e.client("POST /login HTTP/1.1|Host: m|Transfer-Encoding: chunked||3|{\"}|0||")
		e.expect("", "POST /login HTTP/1.1|Host: m|Transfer-Encoding: chunked||3|{\"}|0||")
		e.answers(ok200)
	})
	if max := 16; cap(NewRelay(cfg).ex.hold) > max {
		t.Fatal("hold preallocated")
	}
}

func TestRelayPinnedAndForwarded(t *testing.T) {
	cfg := testConfig(t)
	cfg.TLS = true
	relayModes(t, cfg, testRoutes, func(e *relayEngine) {
		e.client("GET /pinned/a?b HTTP/1.1|Host: mail.example|Forwarded: for=evil|X-Forwarded-For: 6.6.6.6||")
		e.expect("", "GET /pinned/a?b HTTP/1.1|Host: mail.example|Forwarded: for=\"192.0.2.7:4711\";proto=https;host=mail.example|"+
			"X-Forwarded-For: 192.0.2.7|X-Forwarded-Proto: https||", "connect P")
		e.answers(ok200)
		// A host route wins over the paths below it.
		e.client("GET /pinned/a HTTP/1.1|Host: ADMIN.example:8080||")
		e.expect("", "GET /pinned/a HTTP/1.1|Host: ADMIN.example:8080||", "connect ADMIN")
	})
	// Trusted: the client's fields are kept, and for a destination
	// without forwarded = true, as they are.
	cfg.TrustForwarded = true
	relayModes(t, cfg, testRoutes, func(e *relayEngine) {
		e.client("GET /dflt/a HTTP/1.1|Host: m|Forwarded: for=1.2.3.4|X-Forwarded-For: 1.2.3.4||")
		e.expect("", "GET /dflt/a HTTP/1.1|Host: m|Forwarded: for=1.2.3.4|X-Forwarded-For: 1.2.3.4||", "connect D")
	})
}

func TestRelayFallbacks(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		// No credentials, no fallback: a challenge.
		e.client("GET /jmap/session HTTP/1.1|Host: m||")
		e.expect(local("401 Unauthorized", "WWW-Authenticate: Basic realm=\"switchyard\"|", "credentials required", false), "")
		// Fallback to a destination, and to the default one.
		e.client("GET /fb/x HTTP/1.1|Host: m|Authorization: Negotiate abc||")
		e.expect("", "GET /fb/x HTTP/1.1|Host: m|Authorization: Negotiate abc||", "connect F")
		e.answers(ok200)
		e.client("GET /dflt/x HTTP/1.1|Host: m|Authorization: Bearer opaque||")
		e.expect("", "GET /dflt/x HTTP/1.1|Host: m|Authorization: Bearer opaque||", "connect D")
		e.answers(ok200)
		// An account the router does not know: the fallback, else 502.
		e.client("GET /dflt/y HTTP/1.1|Host: m|Authorization: " + rulestest.Basic("who@z.example", "") + "||")
		e.expect("", "GET /dflt/y HTTP/1.1|Host: m|Authorization: "+rulestest.Basic("who@z.example", "")+"||", "route who@z.example")
		e.answers(ok200)
		e.client("GET /jmap/y HTTP/1.1|Host: m|Authorization: " + rulestest.Basic("who@z.example", "") + "||")
		e.expect("HTTP/1.1 502 Bad Gateway|Content-Type: text/plain; charset=utf-8|Content-Length: 49||"+
			"502 Bad Gateway: no destination for this account\n", "", "route who@z.example")
		// The router cannot answer now.
		e.client("GET /jmap/y HTTP/1.1|Host: m|Authorization: " + rulestest.Basic("temp@x.example", "") + "||")
		e.expect(local("503 Service Unavailable", "Retry-After: 5|", "destination unavailable", false), "", "route temp@x.example")
		// No identifier in a query route: 400.
		e.client("HEAD /q/x?other=1 HTTP/1.1|Host: m||")
		e.expect("HTTP/1.1 400 Bad Request|Content-Type: text/plain; charset=utf-8|Content-Length: 49||", "")
		// No route: 404; and the connection goes on after each of them.
		e.client("GET /nowhere HTTP/1.1|Host: m||")
		e.expect("HTTP/1.1 404 Not Found|Content-Type: text/plain; charset=utf-8|Content-Length: 38||"+
			"404 Not Found: no route for this path\n", "")
		if e.closed {
			e.t.Fatal("closed")
		}
	})
}

func TestRelayIdentifierRegexAndValidation(t *testing.T) {
	cfg := testConfig(t)
	relayModes(t, cfg, testRoutes, func(e *relayEngine) {
		// The header's regex does not match: no identifier, 400.
		e.client("GET /h/x HTTP/1.1|Host: m|X-Account: alice@a.example||")
		if !strings.HasPrefix(e.takeClient(), "HTTP/1.1 400 ") {
			e.t.Fatal("no 400")
		}
		// A control character in a decoded parameter is no identifier.
		e.client("GET /q/x?account=a%0Ab HTTP/1.1|Host: m||")
		if !strings.HasPrefix(e.takeClient(), "HTTP/1.1 400 ") || len(e.TakeEvents()) != 0 {
			e.t.Fatal("control character routed")
		}
	})
}

func TestRelayLocalAnswerDiscardsOrCloses(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		// A short body after a 404 is read and dropped.
		e.client("POST /nowhere HTTP/1.1|Host: m|Content-Length: 10||0123456789GET /pinned/ HTTP/1.1|Host: m||")
		e.expect("HTTP/1.1 404 Not Found|Content-Type: text/plain; charset=utf-8|Content-Length: 38||"+
			"404 Not Found: no route for this path\n", "GET /pinned/ HTTP/1.1|Host: m|Forwarded: for=\"192.0.2.7:4711\";proto=http;host=m|"+
			"X-Forwarded-For: 192.0.2.7|X-Forwarded-Proto: http||", "connect P")
	})
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		// A chunked one closes the connection.
		e.client("POST /nowhere HTTP/1.1|Host: m|Transfer-Encoding: chunked||1|x|0||")
		e.expect("HTTP/1.1 404 Not Found|Content-Type: text/plain; charset=utf-8|Content-Length: 38|Connection: close||"+
			"404 Not Found: no route for this path\n", "", "close")
	})
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		// So does a body the client holds back behind Expect.
		e.client("PUT /jmap/x HTTP/1.1|Host: m|Expect: 100-continue|Content-Length: 10||")
		if got := e.takeClient(); !strings.Contains(got, "HTTP/1.1 401 ") || !strings.Contains(got, "Connection: close") || !e.closed {
			e.t.Fatalf("got %q", got)
		}
	})
}

func TestRelayChunkedPassThrough(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.send("POST /pinned/x HTTP/1.1|Host: m|Transfer-Encoding: chunked||")
		e.expect("", "", "connect P")
		// Extensions and trailers pass untouched.
		e.client("5;ext=\"v\"|hello|")
		e.client("0|X-Trailer: 1||")
		e.expect("", "5;ext=\"v\"|hello|0|X-Trailer: 1||")
		e.answers("HTTP/1.1 200 OK|Transfer-Encoding: chunked||3;x=y|abc|")
		e.answers("0|Server-Timing: x||")
		// The leg is idle again.
		e.client("GET /pinned/y HTTP/1.1|Host: m||")
		if e.TakeSent() == "" || len(e.legs) != 1 {
			e.t.Fatal("leg not reused")
		}
	})
}

func TestRelayContentLengthInPieces(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.sendQuiet("PUT /pinned/f HTTP/1.1|Host: m|Content-Length: 26||abc")
		if e.r.AwaitingBackend() {
			e.t.Fatal("awaiting while the body is being sent")
		}
		for _, p := range []string{"defg", "h", "ijklmnopqrstuvwxy"} {
			e.client(p)
			e.expect("", p)
		}
		// The last octet, and the start of the next request, which waits.
		e.client("zGET /pinned/g HTTP/1.1|Host: m||")
		e.expect("", "z")
		if !e.r.AwaitingBackend() || len(e.pending) == 0 {
			e.t.Fatal("next request not held back")
		}
		e.answers("HTTP/1.1 201 Created|Content-Length: 4||")
		e.answers("do")
		e.backend("ne")
		// The response is over: the next request goes out.
		e.expect("ne", "GET /pinned/g HTTP/1.1|Host: m|Forwarded: for=\"192.0.2.7:4711\";proto=http;host=m|X-Forwarded-For: 192.0.2.7|X-Forwarded-Proto: http||")
	})
}

func TestRelayExpectContinue(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		auth := rulestest.Basic("alice@a.example", "x")
		e.client("PUT /dav/f HTTP/1.1|Host: m|Authorization: " + auth + "|Expect: 100-continue|Content-Length: 3||")
		e.expect("", "PUT /dav/f HTTP/1.1|Host: m|Authorization: "+auth+"|Expect: 100-continue|Content-Length: 3||",
			"route alice@a.example", "connect A")
		if !e.r.AwaitingBackend() {
			e.t.Fatal("not awaiting the 100")
		}
		e.answers("HTTP/1.1 100 Continue||")
		e.client("abc")
		e.expect("", "abc")
		e.answers("HTTP/1.1 102 Processing||HTTP/1.1 201 Created|Content-Length: 0||")
		if e.closed {
			e.t.Fatal("closed")
		}
	})
	// A final answer before the body: the client connection ends after
	// it, since the body's fate is unknown.
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.send("PUT /pinned/f HTTP/1.1|Host: m|Expect: 100-continue|Content-Length: 3||")
		e.backend("HTTP/1.1 413 Content Too Large|Content-Length: 0||")
		e.expect("HTTP/1.1 413 Content Too Large|Content-Length: 0|Connection: close||", "", "connect P", "close")
	})
}

func TestRelayNoBodyResponses(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.send("HEAD /pinned/a HTTP/1.1|Host: m||")
		e.backend("HTTP/1.1 200 OK|Content-Length: 1234|ETag: \"x\"||")
		e.expect("HTTP/1.1 200 OK|ETag: \"x\"|Content-Length: 1234||", "", "connect P")
		e.send("GET /pinned/b HTTP/1.1|Host: m|If-None-Match: \"x\"||")
		e.answers("HTTP/1.1 304 Not Modified|ETag: \"x\"||")
		e.send("DELETE /pinned/c HTTP/1.1|Host: m||")
		e.backend("HTTP/1.1 204 No Content|Content-Length: 0||")
		e.expect("HTTP/1.1 204 No Content||", "")
		if len(e.legs) != 1 || e.closed {
			e.t.Fatal("leg not kept")
		}
	})
}

func TestRelayEventStream(t *testing.T) {
	e := newRelayEngine(t, testConfig(t), testRoutes)
	e.send("GET /pinned/events HTTP/1.1|Host: m|Accept: text/event-stream||")
	e.backend("HTTP/1.1 200 OK|Content-Type: text/event-stream|Cache-Control: no-cache||")
	e.expect("HTTP/1.1 200 OK|Content-Type: text/event-stream|Cache-Control: no-cache|Connection: close||", "", "connect P")
	// Every event reaches the client as soon as the backend sends it.
	for _, ev := range []string{"event: state\ndata: {\"a\":1}\n\n", ": ping\n\n", "data: x\n\n"} {
		e.backend(ev)
		if got := e.takeClient(); got != ev {
			t.Fatalf("client got %q, want %q", got, ev)
		}
		if e.r.AwaitingBackend() {
			t.Fatal("awaiting during the stream")
		}
	}
	// The stream ends when the backend closes: so does the connection.
	e.down()
	e.expect("", "", "down", "close")

	// Chunked, piece by piece.
	e = newRelayEngine(t, testConfig(t), testRoutes)
	e.client("GET /pinned/events HTTP/1.1|Host: m||")
	e.backend("HTTP/1.1 200 OK|Content-Type: text/event-stream|Transfer-Encoding: chunked||")
	e.takeClient()
	for _, ev := range []string{"b|data: one\n\n|", "b|data: two\n\n|"} {
		e.backend(ev)
		if got := e.takeClient(); got != crlf(ev) {
			t.Fatalf("client got %q, want %q", got, crlf(ev))
		}
	}
	// Cut short: the client must not take it for complete.
	e.backend("c|data: th")
	e.down()
	if got := e.takeClient(); got != "c\r\ndata: th" || !e.closed {
		t.Fatalf("client got %q, closed %v", got, e.closed)
	}
}

func TestRelayWebSocket(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		auth := rulestest.Basic("alice@a.example", "x")
		e.client("GET /ws/jmap HTTP/1.1|Host: m|Authorization: " + auth + "|Connection: Upgrade|Upgrade: websocket|" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==|Sec-WebSocket-Version: 13|Sec-WebSocket-Protocol: jmap||\x81\x02hi")
		e.expect("", "GET /ws/jmap HTTP/1.1|Host: m|Authorization: "+auth+"|Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==|"+
			"Sec-WebSocket-Version: 13|Sec-WebSocket-Protocol: jmap|Connection: upgrade|Upgrade: websocket||",
			"route alice@a.example", "connect A")
		e.backend("HTTP/1.1 101 Switching Protocols|Connection: upgrade|Upgrade: websocket|" +
			"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=|Sec-WebSocket-Protocol: jmap||\x81\x03abc")
		e.expect("HTTP/1.1 101 Switching Protocols|Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=|Sec-WebSocket-Protocol: jmap|"+
			"Connection: upgrade|Upgrade: websocket||", "", "tunnel")
		// What either side sent after the switch is left for the bridge.
		if string(e.pending) != "\x81\x02hi" {
			e.t.Fatalf("client octets left: %q", e.pending)
		}
		if string(e.bpending) != "\x81\x03abc" {
			e.t.Fatalf("backend octets left: %q", e.bpending)
		}
	})
	// A switch nobody asked for is a 502.
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.send("GET /pinned/ HTTP/1.1|Host: m||")
		e.backend("HTTP/1.1 101 Switching Protocols|Connection: upgrade|Upgrade: h2c||")
		e.expect(local("502 Bad Gateway", "", "unexpected 101 Switching Protocols", true), "", "connect P", "close")
	})
}

func TestRelayBackendFailures(t *testing.T) {
	const bad502 = "HTTP/1.1 502 Bad Gateway|Content-Type: text/plain; charset=utf-8|Content-Length: 37||502 Bad Gateway: backend unavailable\n"
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		// The dial fails: 502, and the connection goes on.
		e.dialFail = map[string]bool{"P": true}
		e.client("GET /pinned/a HTTP/1.1|Host: m||")
		e.expect(bad502, "", "connect P", "down")
		e.dialFail = nil
		// The backend closes before any response, after the whole request.
		e.send("GET /pinned/a HTTP/1.1|Host: m||")
		e.down()
		e.expect(local("504 Gateway Timeout", "", "no response from the backend", false), "", "connect P", "down")
		// The reply timeout, the same.
		e.send("GET /pinned/a HTTP/1.1|Host: m||")
		e.timeout()
		if got := e.takeClient(); !strings.HasPrefix(got, "HTTP/1.1 504 ") || e.closed {
			e.t.Fatalf("got %q", got)
		}
		// Down while the body streams: 502 and close.
		e.sendQuiet("PUT /pinned/a HTTP/1.1|Host: m|Content-Length: 10||01234")
		e.down()
		e.expect("HTTP/1.1 502 Bad Gateway|Content-Type: text/plain; charset=utf-8|Content-Length: 37|Connection: close||"+
			"502 Bad Gateway: backend unavailable\n", "", "down", "close")
	})
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		// A malformed response head.
		e.send("GET /pinned/a HTTP/1.1|Host: m||")
		e.backend("HTTP/1.1 200 OK|Content-Length: 1|Transfer-Encoding: chunked||")
		got := e.takeClient()
		if !strings.HasPrefix(got, "HTTP/1.1 502 Bad Gateway\r\n") || !e.closed {
			e.t.Fatalf("got %q", got)
		}
	})
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		// Down in the middle of a Content-Length body: cut, closed.
		e.client("GET /pinned/a HTTP/1.1|Host: m||")
		e.backend("HTTP/1.1 200 OK|Content-Length: 10||01234")
		e.takeClient()
		e.down()
		e.expect("", "GET /pinned/a HTTP/1.1|Host: m|Forwarded: for=\"192.0.2.7:4711\";proto=http;host=m|X-Forwarded-For: 192.0.2.7|X-Forwarded-Proto: http||",
			"connect P", "down", "close")
	})
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		// Octets nobody asked for end the leg.
		e.client("GET /pinned/a HTTP/1.1|Host: m||")
		e.backend(ok200 + "HTTP/1.1 200 OK|Content-Length: 0||")
		got := e.TakeEvents()
		if strings.Join(got, ",") != "connect P,disconnect" || e.takeClient() != crlf(ok200) {
			e.t.Fatalf("events %q", got)
		}
	})
}

func TestRelayRetriesAStaleLeg(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.client("GET /pinned/a HTTP/1.1|Host: m||")
		e.backend(ok200)
		sent := e.TakeSent()
		e.takeClient()
		// The backend closed the idle leg as the next request went out.
		e.client("GET /pinned/a HTTP/1.1|Host: m||")
		e.down()
		e.expect("", sent+sent, "connect P", "down", "connect P")
		e.answers(ok200)
		// Not twice, and not a request with a body.
		e.client("GET /pinned/a HTTP/1.1|Host: m||")
		e.down()
		e.TakeSent()
		e.down()
		if got := e.takeClient(); !strings.HasPrefix(got, "HTTP/1.1 504 ") {
			e.t.Fatalf("got %q", got)
		}
	})
}

func TestRelayRefusedHeads(t *testing.T) {
	tests := []struct {
		name, stream string
		status       string
	}{
		{"CL.TE", "POST /pinned/ HTTP/1.1|Host: m|Content-Length: 6|Transfer-Encoding: chunked||0||G", "400"},
		{"TE obfuscated", "POST /pinned/ HTTP/1.1|Host: m|Transfer-Encoding: xchunked||", "400"},
		{"TE with space before colon", "POST /pinned/ HTTP/1.1|Host: m|Transfer-Encoding : chunked||", "400"},
		{"double CL", "POST /pinned/ HTTP/1.1|Host: m|Content-Length: 1|Content-Length: 2||ab", "400"},
		{"obs-fold", "GET /pinned/ HTTP/1.1|Host: m|X: a| b||", "400"},
		{"bare LF", "GET /pinned/ HTTP/1.1\nHost: m\n\n", "400"},
		{"no host", "GET /pinned/ HTTP/1.1||", "400"},
		{"http/2", "GET /pinned/ HTTP/2.0|Host: m||", "505"},
		{"gzip", "POST /pinned/ HTTP/1.1|Host: m|Transfer-Encoding: gzip, chunked||", "501"},
		{"expect", "POST /pinned/ HTTP/1.1|Host: m|Expect: magic||", "417"},
		{"head too large", "GET /pinned/ HTTP/1.1|Host: m|X: " + strings.Repeat("a", 300) + "||", "431"},
		{"target too long", "GET /pinned/" + strings.Repeat("a", 300) + " HTTP/1.1|Host: m||", "414"},
	}
	cfg := testConfig(t)
	cfg.Limits = codec.Limits{MaxHead: 256, MaxFieldLine: 200, MaxTarget: 200}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			relayModes(t, cfg, testRoutes, func(e *relayEngine) {
				// A good request first: the bad one must not reach its leg.
				e.client("GET /pinned/ok HTTP/1.1|Host: m||")
				e.backend(ok200)
				e.takeClient()
				e.TakeSent()
				e.TakeEvents()
				e.client(tt.stream)
				got := e.takeClient()
				if !strings.HasPrefix(got, "HTTP/1.1 "+tt.status+" ") || !strings.Contains(got, "Connection: close\r\n") {
					e.t.Fatalf("got %q", got)
				}
				if s := e.TakeSent(); s != "" {
					e.t.Fatalf("backend got %q", s)
				}
				if !e.closed {
					e.t.Fatal("not closed")
				}
			})
		})
	}
}

func TestRelayBadChunkedBody(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.sendQuiet("POST /pinned/ HTTP/1.1|Host: m|Transfer-Encoding: chunked||")
		// A valid prefix goes out, then both legs close.
		e.client("3|abc|0x10|")
		got := e.takeClient()
		if s := e.TakeSent(); s != "3\r\nabc\r\n0" {
			e.t.Fatalf("backend got %q", s)
		}
		if !strings.HasPrefix(got, "HTTP/1.1 400 ") || !e.closed {
			e.t.Fatalf("got %q", got)
		}
	})
}

func TestRelayPipelined(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		a, b := rulestest.Basic("alice@a.example", ""), rulestest.Basic("bob@b.example", "")
		e.client("GET /jmap/1 HTTP/1.1|Host: m|Authorization: " + a + "||" +
			"GET /nowhere HTTP/1.1|Host: m||" +
			"GET /jmap/2 HTTP/1.1|Host: m|Authorization: " + b + "||" +
			"GET /jmap/3 HTTP/1.1|Host: m|Authorization: " + b + "|Connection: close||")
		e.expect("", "GET /jmap/1 HTTP/1.1|Host: m|Authorization: "+a+"||", "route alice@a.example", "connect A")
		e.backend("HTTP/1.1 200 OK|Content-Length: 1||1")
		e.expect("HTTP/1.1 200 OK|Content-Length: 1||1"+
			"HTTP/1.1 404 Not Found|Content-Type: text/plain; charset=utf-8|Content-Length: 38||404 Not Found: no route for this path\n",
			"GET /jmap/2 HTTP/1.1|Host: m|Authorization: "+b+"||", "route bob@b.example", "connect B")
		e.backend("HTTP/1.1 200 OK|Content-Length: 1||2")
		e.expect("HTTP/1.1 200 OK|Content-Length: 1||2", "GET /jmap/3 HTTP/1.1|Host: m|Authorization: "+b+"|Connection: close||",
			"route bob@b.example")
		e.backend("HTTP/1.1 200 OK|Content-Length: 1||3")
		e.expect("HTTP/1.1 200 OK|Content-Length: 1|Connection: close||3", "", "close")
	})
}

func TestRelayHTTP10Client(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.send("GET /pinned/a HTTP/1.0|Host: m|Connection: keep-alive||")
		e.backend(ok200)
		e.expect("HTTP/1.1 200 OK|Content-Length: 2|Connection: keep-alive||ok", "", "connect P")
		e.send("GET /pinned/b HTTP/1.0||")
		// Chunked for a 1.0 client: the data alone, delimited by the close.
		e.backend("HTTP/1.1 200 OK|Transfer-Encoding: chunked||2|ab|0||")
		e.expect("HTTP/1.1 200 OK|Connection: close||ab", "", "close")
	})
}

func TestRelayKeepaliveLimitAndBackendClose(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxKeepaliveRequests = 2
	relayModes(t, cfg, testRoutes, func(e *relayEngine) {
		e.client("GET /pinned/a HTTP/1.1|Host: m||")
		// The backend ends its leg: the next request gets a new one.
		e.TakeSent()
		e.backend("HTTP/1.1 200 OK|Content-Length: 2|Connection: close||ok")
		e.expect(ok200, "", "connect P", "disconnect")
		e.client("GET /pinned/b HTTP/1.1|Host: m||")
		if s := e.TakeSent(); !strings.Contains(s, "Connection: close\r\n") {
			e.t.Fatalf("backend got %q", s)
		}
		e.backend(ok200)
		e.expect("HTTP/1.1 200 OK|Content-Length: 2|Connection: close||ok", "", "connect P", "close")
	})
}

func TestRelayHoldsTheBodyWhileDialling(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.manualDial = true
		e.client("POST /pinned/a HTTP/1.1|Host: m|Content-Length: 5||hel")
		e.expect("", "", "connect P")
		if !e.r.AwaitingBackend() || len(e.pending) != 0 {
			e.t.Fatalf("pending %q", e.pending)
		}
		// The engine does not feed the client after the dial: what the
		// machine holds goes out with the head.
		e.connect()
		if s := e.TakeSent(); !strings.HasSuffix(s, "\r\n\r\nhel") {
			e.t.Fatalf("backend got %q", s)
		}
		e.client("lo")
		e.expect("", "lo")
	})
	// A body beyond the hold waits with the engine.
	e := newRelayEngine(t, testConfig(t), testRoutes)
	e.manualDial = true
	e.client("POST /pinned/a HTTP/1.1|Host: m|Content-Length: 70000||" + strings.Repeat("x", 70000))
	if len(e.r.ex.hold) != holdCap || cap(e.r.ex.hold) != holdCap || len(e.pending) != 70000-holdCap {
		t.Fatalf("hold %d pending %d", len(e.r.ex.hold), len(e.pending))
	}
	e.connect()
	e.client("")
	if s := e.TakeSent(); !strings.HasSuffix(s, strings.Repeat("x", 70000)) {
		t.Fatalf("backend got %d", len(s))
	}
}

func TestRelayTimeoutsAndLimits(t *testing.T) {
	e := newRelayEngine(t, testConfig(t), testRoutes)
	e.timeout()
	e.expect("", "", "timeout", "close")

	e = newRelayEngine(t, testConfig(t), testRoutes)
	e.client("GET /pin")
	e.timeout()
	e.expect(local("408 Request Timeout", "", "request not received in time", true), "", "timeout", "close")

	e = newRelayEngine(t, testConfig(t), testRoutes)
	e.send("PUT /pinned/ HTTP/1.1|Host: m|Content-Length: 5||ab")
	e.timeout()
	if got := e.takeClient(); !strings.HasPrefix(got, "HTTP/1.1 408 ") {
		t.Fatalf("got %q", got)
	}

	r := NewRelay(testConfig(t))
	if got := string(r.TooBusy(nil)); got != crlf("HTTP/1.1 503 Service Unavailable|Content-Type: text/plain; charset=utf-8|Content-Length: 46|"+
		"Retry-After: 5|Connection: close||503 Service Unavailable: too many connections\n") {
		t.Fatalf("got %q", got)
	}
}

func TestRelayShuttingDown(t *testing.T) {
	e := newRelayEngine(t, testConfig(t), testRoutes)
	e.shutdown()
	e.expect("", "", "shutdown true", "close")

	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.send("GET /pinned/a HTTP/1.1|Host: m||")
		e.shutdown()
		e.expect("", "", "connect P", "shutdown false")
		e.backend(ok200)
		e.expect("HTTP/1.1 200 OK|Content-Length: 2|Connection: close||ok", "", "close")
	})
	// The head already went out: the connection ends after the body.
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.send("GET /pinned/a HTTP/1.1|Host: m||")
		e.backend("HTTP/1.1 200 OK|Content-Length: 2||o")
		e.shutdown()
		e.backend("k")
		e.expect(ok200, "", "connect P", "shutdown false", "close")
	})
}

func TestRelayBackendStartTLSRefused(t *testing.T) {
	e := newRelayEngine(t, testConfig(t), testRoutes)
	e.legInfo.StartTLS = true
	e.client("GET /pinned/a HTTP/1.1|Host: m||")
	e.expect(local("502 Bad Gateway", "", "backend leg cannot use STARTTLS", false), "", "connect P", "disconnect")
	var o protocols.RelayOut
	if ev := e.r.BackendTLSStarted(&o); ev != protocols.RelayNone {
		t.Fatal(ev)
	}
}

func TestRelayConnectAndAsterisk(t *testing.T) {
	cfg := testConfig(t)
	cfg.Routes = append(cfg.Routes, rulestest.MustRoutes(t, rules.RouteSpec{Match: "**", Destination: "ALL"})...)
	relayModes(t, cfg, testRoutes, func(e *relayEngine) {
		e.client("CONNECT a.example:443 HTTP/1.1|Host: a.example:443||")
		if got := e.takeClient(); !strings.HasPrefix(got, "HTTP/1.1 501 ") {
			e.t.Fatalf("got %q", got)
		}
		e.client("OPTIONS * HTTP/1.1|Host: m||")
		e.expect("", "OPTIONS * HTTP/1.1|Host: m||", "connect ALL")
	})
}

func TestRelayPathNormalizedForRouting(t *testing.T) {
	cfg := testConfig(t)
	relayModes(t, cfg, testRoutes, func(e *relayEngine) {
		// "/jmap/../pinned/x" is /pinned/x to the backend.
		e.client("GET /jmap/%2E%2E/pinned/x HTTP/1.1|Host: m||")
		if ev := e.TakeEvents(); len(ev) != 1 || ev[0] != "connect P" {
			e.t.Fatalf("events %q", ev)
		}
		// Forwarded as received.
		if s := e.TakeSent(); !strings.HasPrefix(s, "GET /jmap/%2E%2E/pinned/x HTTP/1.1\r\n") {
			e.t.Fatalf("backend got %q", s)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// local is a response the proxy makes itself, for expect ("|" for CRLF
// in extra).
func local(status, extra, reason string, closing bool) string {
	body := status + ": " + reason + "\n"
	s := "HTTP/1.1 " + status + "|Content-Type: text/plain; charset=utf-8|Content-Length: " + strconv.Itoa(len(body)) + "|" + extra
	if closing {
		s += "Connection: close|"
	}
	return s + "|" + body
}

func TestRelayBadChunkedResponse(t *testing.T) {
	relayModes(t, testConfig(t), testRoutes, func(e *relayEngine) {
		e.send("GET /pinned/a HTTP/1.1|Host: m||")
		e.backend("HTTP/1.1 200 OK|Transfer-Encoding: chunked||3|abcX|")
		e.expect("HTTP/1.1 200 OK|Transfer-Encoding: chunked||3|abc", "", "connect P", "close")
	})
}

// Decide and the relay must agree: the same request through both.
func TestDecideAgreesWithRelay(t *testing.T) {
	cfg := testConfig(t)
	cases := []struct{ head, method, target string }{
		{"GET /jmap/a HTTP/1.1|Host: m|Authorization: " + rulestest.Basic("alice@a.example", "x") + "||", "GET", "/jmap/a"},
		{"GET /jmap/a HTTP/1.1|Host: m||", "GET", "/jmap/a"},
		{"GET /q/a?account=bob%40b.example HTTP/1.1|Host: m||", "GET", "/q/a?account=bob%40b.example"},
		{"GET /nope HTTP/1.1|Host: m||", "GET", "/nope"},
		{"GET //pinned/./x HTTP/1.1|Host: m||", "GET", "//pinned/./x"},
	}
	for _, c := range cases {
		h, _, err := codec.ParseRequestHead([]byte(crlf(c.head)), codec.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(c.method, "http://m"+c.target, nil)
		r.RequestURI = c.target
		for _, f := range h.Fields {
			if f.Key != "host" {
				r.Header.Add(f.Name, f.Value)
			}
		}
		d := rules.Decide(cfg.Routes, cfg.DefaultDestination, "", r, nil)
		rt := rules.MatchPath(cfg.Routes, h.Path, h.Host, h.Method)
		id := ""
		if rt != nil && rt.Extract != nil {
			id = rt.Extract.Identifier(h.Authorization, h.Query, h, rules.DefaultIdentifierClaim)
		}
		if want := rt.Decide(cfg.DefaultDestination, id); d != want {
			t.Fatalf("%s: Decide %+v, relay %+v", c.target, d, want)
		}
	}
}

// Hand-built routes are compiled by NewRelay, for that machine: the
// caller's copy stays as it was (and an uncompiled route never matches).
func TestRelayCompilesHandBuiltRoutes(t *testing.T) {
	hand := []rules.Route{{Match: "/x/*", Destination: "X"}}
	r := NewRelay(RelayConfig{Routes: hand})
	if rules.MatchPath(hand, "/x/y", "", "GET") != nil || rules.MatchPath(r.cfg.Routes, "/x/y", "", "GET") == nil {
		t.Fatal("hand-built route")
	}
}
