package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
)

// Issue 13, item 3: descriptor exhaustion. Lowering RLIMIT_NOFILE cannot
// be undone, and the clients must not share the proxy's descriptors, so
// the proxy runs in a child process (this test binary again, running
// TestDescriptorExhaustionChild) driven over its stdin and stdout, and the
// clients run here.
func TestDescriptorExhaustion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDescriptorExhaustionChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SWITCHYARD_ENGINE_EMFILE_CHILD=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out := bufio.NewScanner(stdout)
	ask := func(cmdline, prefix string) string {
		t.Helper()
		if cmdline != "" {
			fmt.Fprintln(stdin, cmdline)
		}
		for out.Scan() {
			if l := out.Text(); strings.HasPrefix(l, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(l, prefix))
			}
		}
		t.Fatalf("child said nothing for %q; its log:\n%s", cmdline, tail(stderr.String(), 40))
		return ""
	}
	addr := ask("", "ADDR ")

	// Phase 1: logins that hold a client and a backend descriptor each
	// (their backend never answers), many more than fit. Every client gets
	// an answer in its protocol: "BUSY" at accept, or a temporary failure
	// of its login.
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ans := loginAnswer(addr, fmt.Sprintf("stuck%d", i))
			mu.Lock()
			answers[ans]++
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	refusals := map[string]int64{}
	_ = json.Unmarshal([]byte(ask("refusals", "REFUSALS ")), &refusals)
	t.Logf("answers: %v; refusals: %v", answers, refusals)
	for a := range answers {
		if a != "BUSY" && a != "NO UNAVAILABLE" {
			t.Errorf("%d clients got %q", answers[a], a)
		}
	}
	if answers["BUSY"] == 0 || refusals["fd_budget"] == 0 {
		t.Errorf("the descriptor budget never refused a connection")
	}

	// Phase 2: something outside the budget takes every descriptor left:
	// accept(2) fails with EMFILE. The proxy answers with its reserve
	// descriptor and keeps running.
	ask("hog", "HOGGED ")
	for i := 0; i < 5; i++ {
		if a := firstLine(addr); a != "BUSY" {
			t.Fatalf("at EMFILE a client got %q, want BUSY", a)
		}
	}
	_ = json.Unmarshal([]byte(ask("refusals", "REFUSALS ")), &refusals)
	if refusals["fd_exhausted"] == 0 {
		t.Fatalf("EMFILE at accept was not counted: %v", refusals)
	}

	// Phase 3: the descriptors come back, and so does service.
	ask("release", "RELEASED")
	eventually(t, "a login after the exhaustion", func() bool { return loginAnswer(addr, "back") == "OK back" })
	ask("quit", "BYE")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, tail(stderr.String(), 40))
	}
}

// loginAnswer connects, logs in as user and returns the proxy's answer
// ("BUSY" when refused at once, "" when closed without a word).
func loginAnswer(addr, user string) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial error"
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	first, _ := br.ReadString('\n')
	if first != "HELLO\r\n" {
		return strings.TrimSpace(first)
	}
	fmt.Fprintf(c, "LOGIN %s\r\n", user)
	l, _ := br.ReadString('\n')
	return strings.TrimSpace(l)
}

func firstLine(addr string) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial error"
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	l, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(l)
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func TestDescriptorExhaustionChild(t *testing.T) {
	if os.Getenv("SWITCHYARD_ENGINE_EMFILE_CHILD") == "" {
		t.Skip("run by TestDescriptorExhaustion")
	}
	const limit = 256
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatal(err)
	}
	good := startBackend(t, echoBackend)
	// A backend that never accepts: the kernel completes connections into
	// its backlog and nobody ever speaks.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	h := startEngine(t, good.port(), func(o *options.Options, l *options.Listener) {
		o.FDs = fdbudget.New(32)
		o.BackendTimeout = 3 * time.Second
		o.Destinations["hole"] = &options.Destination{ID: "hole", Host: "127.0.0.1", AllowPlaintextAuth: true,
			Protocols: map[string]options.DestProtocol{"fake": {Port: hole.Addr().(*net.TCPAddr).Port}}}
		l.MaxConnections = 10000
		l.MaxConnsPerAddr = 10000
	})
	h.router.mu.Lock()
	h.router.dest = map[string]string{}
	for i := 0; i < 300; i++ {
		h.router.dest[fmt.Sprint("stuck", i)] = "hole"
	}
	h.router.mu.Unlock()
	fmt.Println("ADDR", h.addr)
	var hog []int
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "refusals":
			b, _ := json.Marshal(h.e.Refusals())
			fmt.Println("REFUSALS", string(b))
		case "hog":
			// Whatever phase 1 left in flight finishes first, so no
			// descriptor is given back behind the hog's back.
			eventually(t, "the engine to settle", func() bool { return h.e.dials.Load() == 0 && h.e.ActiveSessions() == 0 })
			for {
				fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					break
				}
				hog = append(hog, fd)
			}
			fmt.Println("HOGGED", len(hog))
		case "release":
			for _, fd := range hog {
				unix.Close(fd)
			}
			hog = nil
			fmt.Println("RELEASED")
		case "quit":
			fmt.Println("BYE")
			return
		}
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
}
