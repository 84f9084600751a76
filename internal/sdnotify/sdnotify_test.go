package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listen binds a unix datagram socket as systemd does and returns it with
// its path.
func listen(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestProtocol(t *testing.T) {
	c, path := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	n, err := FromEnv()
	if err != nil || n == nil {
		t.Fatalf("FromEnv: %v, %v", n, err)
	}
	if err := n.Ready("3 listeners"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, c); got != "READY=1\nSTATUS=3 listeners\n" {
		t.Errorf("ready: %q", got)
	}
	if err := n.Reloading(); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, c); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") || strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=0\n") {
		t.Errorf("reloading: %q", got)
	}
	if err := n.Status("12 sessions"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, c); got != "STATUS=12 sessions\n" {
		t.Errorf("status: %q", got)
	}
	if err := n.Stopping("draining"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, c); got != "STOPPING=1\nSTATUS=draining\n" {
		t.Errorf("stopping: %q", got)
	}
	if err := n.Status("two\nlines"); err == nil {
		t.Error("a newline in a value was sent")
	}
}

// The abstract namespace ('@' in NOTIFY_SOCKET) is addressed too.
func TestAbstractSocket(t *testing.T) {
	name := "@switchyard-sdnotify-test-" + strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000000")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Skipf("no abstract unix sockets here: %v", err)
	}
	defer c.Close()
	n, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send("READY=1"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, c); got != "READY=1\n" {
		t.Errorf("got %q", got)
	}
}

func TestWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n, err := FromEnv()
	if n != nil || err != nil {
		t.Fatalf("FromEnv without NOTIFY_SOCKET: %v, %v", n, err)
	}
	if err := n.Ready("x"); err != nil {
		t.Fatalf("a nil Notifier sent: %v", err)
	}
	if _, err := New("relative/path"); err == nil {
		t.Fatal("a relative path was accepted")
	}
}
