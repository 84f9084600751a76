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

}
