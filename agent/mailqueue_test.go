package agent

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
)

// TestServeMovesOldMailQueue: the service moves the mails the previous
// version queued into the email receiver's queue at start; with the mail
// server down they wait there, and a reload that changes the mail
// settings keeps them.
func TestServeMovesOldMailQueue(t *testing.T) {
	cfg := testConfig(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens: every attempt fails
	cfg.SMTP = config.SMTP{Host: "127.0.0.1", Port: port, TLS: "none", AllowPlain: true,
		From: "pbxagent@example.com", To: []string{"ops@example.com"}, Timeout: config.Duration(time.Second)}
	if err := os.MkdirAll(cfg.QueueDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	golden, _ := filepath.Glob(filepath.Join("..", "mailer", "testdata", "legacy-queue", "*.mail.json"))
	if len(golden) != 3 {
		t.Fatalf("golden queue: %v", golden)
	}
	for _, g := range golden {
		b, err := os.ReadFile(g)
		if err == nil {
			err = os.WriteFile(filepath.Join(cfg.QueueDir(), filepath.Base(g)), b, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	a := New(cfg, "", "test", nil)
	n := &recNotifier{}
	reloads := make(chan Reload)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ServeOptions{Notify: n, Reloads: reloads}) }()
	waitUntil(t, "READY", func() bool { r, _, _ := n.snapshot(); return r == 1 })
	count := func(pattern string) int {
		m, _ := filepath.Glob(filepath.Join(cfg.QueueDir(), pattern))
		return len(m)
	}
	if old, moved := count("*.mail.json"), count("email/*.event.json"); old != 0 || moved != 3 {
		t.Fatalf("after start: %d old files, %d in the email queue; want 0 and 3", old, moved)
	}
	next := testConfig(t)
	next.Agent.StateDir = cfg.Agent.StateDir
	next.SMTP = cfg.SMTP
	next.SMTP.Timeout = config.Duration(2 * time.Second)
	reloads <- Reload{Config: next}
	reloads <- Reload{Config: next} // the first is applied once the second is taken
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if moved := count("email/*.event.json"); moved != 3 {
		t.Errorf("after a mail reload and a stop with the server down: %d queued, want 3", moved)
	}
}
