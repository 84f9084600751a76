package config

import (
	"strings"
	"testing"
)

// TestStoreURLPasswordsNeverEchoed: a store URL that fails validation is
// quoted with its password masked, from the file and from --set.
func TestStoreURLPasswordsNeverEchoed(t *testing.T) {
	const pw = "s3cret-pw"
	f := newFixture(t)
	for _, tc := range []struct {
		name, edit, want string
	}{
		{"redis scheme", "source = \"redis\"\n[mapping.redis]\nurl = \"http://:" + pw + "@10.0.0.5:6379\"",
			`mapping.redis.url: "http://:xxxxx@10.0.0.5:6379" is not a redis://, rediss:// or unix:// URL`},
		{"redis no scheme", "source = \"redis\"\n[mapping.redis]\nurl = \"default:" + pw + "@10.0.0.5:6379\"",
			`mapping.redis.url: "default:xxxxx@10.0.0.5:6379" is not a redis://`},
		{"sql scheme", "source = \"postgresql\"\n[mapping.sql]\nurl = \"mysql://u:" + pw + "@h/db\"",
			`mapping.sql.url: "mysql://u:xxxxx@h/db" does not fit mapping.source = "postgresql"`},
		{"sql dsn", "source = \"mysql\"\n[mapping.sql]\nurl = \"u:" + pw + "@tcp(h:3306)/db\"",
			`mapping.sql.url: "u:xxxxx@tcp(h:3306)/db" does not fit mapping.source = "mysql"`},
		{"sql query password", "source = \"sql\"\n[mapping.sql]\nurl = \"pgsql://h/db?password=" + pw + "\"",
			`mapping.sql.url: "pgsql://h/db?password=xxxxx" does not fit`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, f.expand(sub(`source = "file"`, tc.edit)(baseDoc)))
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("the password is in the error:\n%v", err)
			}
		})
	}

	for _, set := range []string{
		"mapping.redis.uurl=redis://:" + pw + "@h",      // unknown key
		"mapping.redis.url=[\"redis://:" + pw + "@h\"]", // wrong type
	} {
		err := newFlags(t, "--set", set).Apply(Default(), env(nil))
		if err == nil {
			t.Fatalf("--set %s: no error", set)
		}
		if strings.Contains(err.Error(), pw) {
			t.Fatalf("--set: the password is in the error:\n%v", err)
		}
	}
}

func TestShownAssignment(t *testing.T) {
	for _, tc := range []struct{ key, v, want string }{
		{"mapping.redis.url", "mapping.redis.url=redis://:pw@h", "mapping.redis.url=redis://:xxxxx@h"},
		{"admin.bearer_token", "admin.bearer_token=abc", "admin.bearer_token=xxxxx"},
		{"server.threads", "server.threads=many", "server.threads=many"},
	} {
		if got := shownAssignment(tc.key, tc.v); got != tc.want {
			t.Errorf("shownAssignment(%q) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
