package mockhttp

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/bench/internal/benchtest"
	"github.com/switchyard-mail/switchyard/bench/mockimap"
)

func TestAnswersAndAuth(t *testing.T) {
	s := benchtest.Listen(t, Listen, Config{Name: "old", Users: map[string]string{"alice": "pw"}})
	c := &http.Client{}
	post := func(user, pass string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+s.Addr()+"/jmap/api", strings.NewReader(`{"using":[]}`))
		req.SetBasicAuth(user, pass)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post("alice", "pw")
	var doc struct {
		MethodResponses [][]any `json:"methodResponses"`
		SessionState    string  `json:"sessionState"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || code != 200 || doc.SessionState != "old" {
		t.Fatalf("%d %q %v", code, body, err)
	}
	args := doc.MethodResponses[0][1].(map[string]any)
	if args["backend"] != "old" || args["user"] != "alice" || args["received"].(float64) != 12 {
		t.Fatalf("answer %v", args)
	}
	if code, _ := post("alice", "nope"); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if s.Requests() != 1 || s.Unauthorized() != 1 || s.Connections() != 1 {
		t.Fatalf("counts %d %d %d (one keep-alive connection expected)", s.Requests(), s.Unauthorized(), s.Connections())
	}
}

func TestTLSAndAnyUser(t *testing.T) {
	tc, _, err := mockimap.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	s := benchtest.Listen(t, Listen, Config{Name: "new", TLS: tc})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get("https://" + s.Addr() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"backend":"new","user":""`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if u, p := User("Basic " + "Ym9iOnM6ZWNyZXQ="); u != "bob" || p != "s:ecret" {
		t.Fatalf("User: %q %q", u, p)
	}
}
