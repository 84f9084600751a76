package imapload

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

func TestFetchBulk(t *testing.T) {
	const size = 1 << 20
	s := backend(t, mockimap.Config{Name: "bulk", MessageSize: size})
	t0 := time.Now()
	res, err := RunFetch(context.Background(), FetchOptions{
		Options: Options{Target: s.Addr(), Auth: AuthLogin, Accounts: Accounts("user", 4, "pw"), Concurrency: 4,
			Sampler: &stats.Sampler{PID: os.Getpid()}},
		Duration: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The run's deadline never fires early; how late it ends on a busy
	// machine is not asserted.
	if el := time.Since(t0); el < 500*time.Millisecond {
		t.Fatalf("ran %v", el)
	}
	if res.Established != 4 || res.Errors != 0 || s.Logins() != 4 {
		t.Fatalf("established %d errors %v logins %d", res.Established, res.ErrorsByKind, s.Logins())
	}
	if res.LiteralSize < size || res.LiteralSize > size+100 {
		t.Fatalf("literal size %d, want about %d", res.LiteralSize, size)
	}
	if res.Ops < 4 || res.Bytes < res.Ops*res.LiteralSize || res.Bytes > (res.Ops+4)*res.LiteralSize {
		t.Fatalf("fetches %d bytes %d", res.Ops, res.Bytes)
	}
	if res.MBPerSec <= 0 || res.FetchesPerSec <= 0 || int64(res.Latency.Count) != res.Ops || res.Latency.P50Ms <= 0 {
		t.Fatalf("rates %f %f latency %+v", res.MBPerSec, res.FetchesPerSec, res.Latency)
	}
	if res.TargetCost == nil || res.CPUSecondsPerGB <= 0 {
		t.Fatalf("cost %+v per GB %f (%s)", res.TargetCost, res.CPUSecondsPerGB, res.SamplerError)
	}
	var out bytes.Buffer
	if err := res.WriteText(&out); err != nil || !strings.Contains(out.String(), "MB/s") || !strings.Contains(out.String(), "CPU-s/GB") {
		t.Fatalf("text %v:\n%s", err, out.String())
	}
	jf := filepath.Join(t.TempDir(), "r.json")
	if err := res.WriteJSON(jf); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(jf); !bytes.Contains(b, []byte(`"mb_per_sec"`)) || !bytes.Contains(b, []byte(`"scenario": "fetch"`)) {
		t.Fatalf("json: %s", b)
	}
}

func TestFetchRefusedLogin(t *testing.T) {
	s := backend(t, mockimap.Config{Name: "bulk", MessageSize: 1 << 20})
	res, err := RunFetch(context.Background(), FetchOptions{
		Options:  Options{Target: s.Addr(), Accounts: Accounts("user", 2, "wrong"), Concurrency: 2},
		Duration: 100 * time.Millisecond,
	})
	if err == nil || res.Established != 0 || res.Errors != 2 {
		t.Fatalf("%+v %v", res, err)
	}
}
