package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
)

// recNotifier records what Serve tells the service manager.
type recNotifier struct {
	mu     sync.Mutex
	ready  int
	alive  int
	status []string
}

func (n *recNotifier) Ready() { n.mu.Lock(); n.ready++; n.mu.Unlock() }
func (n *recNotifier) Alive() { n.mu.Lock(); n.alive++; n.mu.Unlock() }
func (n *recNotifier) Status(s string) {
	n.mu.Lock()
	n.status = append(n.status, s)
	n.mu.Unlock()
}

func (n *recNotifier) snapshot() (int, int, []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ready, n.alive, append([]string(nil), n.status...)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func testConfig(t *testing.T) *config.Config {
	cfg := config.Default()
	dir := t.TempDir()
	cfg.PBX.DataDir = dir + "/pbx"
	cfg.PBX.LogDir = dir + "/pbx/log"
	cfg.Agent.StateDir = dir + "/state"
	cfg.Checks.Gateway.Enabled = false
	cfg.Checks.BlockedIPs.Enabled = false
	cfg.Checks.Services.Enabled = false
	cfg.SMTP.Host = ""
	return cfg
}

// TestServeReadyHeartbeatReload: READY after the first round, heartbeats
// from the loop, a valid reload switches the configuration in place, an
// invalid one is refused and recorded for `status`.
func TestServeReadyHeartbeatReload(t *testing.T) {
	cfg := testConfig(t)
	a := New(cfg, "", "test", nil)
	n := &recNotifier{}
	reloads := make(chan Reload)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- a.Serve(ctx, ServeOptions{Notify: n, Heartbeat: 10 * time.Millisecond, Reloads: reloads})
	}()

	waitUntil(t, "READY", func() bool { r, _, _ := n.snapshot(); return r == 1 })
	waitUntil(t, "heartbeats", func() bool { _, h, _ := n.snapshot(); return h >= 3 })

	next := testConfig(t)
	next.Agent.StateDir = cfg.Agent.StateDir
	next.Checks.Interval = config.Duration(17 * time.Second)
	reloads <- Reload{Config: next}
	reloads <- Reload{Err: errors.New("checks.interval: not a duration")}
	waitUntil(t, "the refused reload in last-round.json", func() bool {
		r, err := a.LastRound()
		return err == nil && r.Config != nil && strings.Contains(r.Config.ReloadError, "checks.interval")
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := a.Config().Checks.Interval.D(); got != 17*time.Second {
		t.Errorf("interval after the valid reload: %s (the invalid one must not undo it)", got)
	}
	r, _ := a.LastRound()
	if !strings.Contains(r.Config.Line(), "REFUSED") {
		t.Errorf("status line: %q", r.Config.Line())
	}
	if ready, _, status := n.snapshot(); ready != 1 || !strings.Contains(strings.Join(status, "\n"), "reload refused") {
		t.Errorf("ready %d, status %q", ready, status)
	}
}

// TestPurgeListInterruptedWrites: temporary files of an atomic write the
// agent was killed in are its own and go with a purge; others' files stay.
func TestPurgeListInterruptedWrites(t *testing.T) {
	cfg := testConfig(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(cfg.QueueDir(), 0o700))
	for _, f := range []string{".last-round.json.123.tmp", ".alert-state.json.9.tmp", "notes.txt", ".other.json.1.tmp", "queue/.x.mail.json.5.tmp"} {
		must(os.WriteFile(filepath.Join(cfg.Agent.StateDir, f), nil, 0o600))
	}
	list := strings.Join(PurgeList(cfg, ""), "\n")
	for _, want := range []string{".last-round.json.123.tmp", ".alert-state.json.9.tmp", ".x.mail.json.5.tmp"} {
		if !strings.Contains(list, want) {
			t.Errorf("purge list lacks %s:\n%s", want, list)
		}
	}
	for _, keep := range []string{"notes.txt", ".other.json.1.tmp"} {
		if strings.Contains(list, keep) {
			t.Errorf("purge list holds %s, not the agent's:\n%s", keep, list)
		}
	}
}
