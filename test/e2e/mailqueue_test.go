//go:build linux

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAlertQueueUpgrade: mails the previous version left in its queue
// format (state/queue/*.mail.json, the golden copy the mailer tests use)
// are moved into the email queue when the new binary starts and reach the
// mail server once each; a file that is not a mail is kept aside, not
// deleted.
func TestAlertQueueUpgrade(t *testing.T) {
	ms := newMailServer(t)
	data := tmpfsFixture(t, "16m")
	state := t.TempDir()
	queue := filepath.Join(state, "queue")
	must(t, os.MkdirAll(queue, 0o700))
	golden, err := filepath.Glob(filepath.Join("..", "..", "mailer", "testdata", "legacy-queue", "*.mail.json"))
	if err != nil || len(golden) != 3 {
		t.Fatalf("golden queue: %v %v", golden, err)
	}
	for _, g := range golden {
		b, err := os.ReadFile(g)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(queue, filepath.Base(g)), b, 0o600))
	}
	must(t, os.WriteFile(filepath.Join(queue, "01796117880000000000-00.mail.json"), []byte("{not json"), 0o600))
	cfg := watchConfig(t, data, state, ms, "")

	cmd := exec.Command(bin, "run", "--config", cfg)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	must(t, cmd.Start())
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	defer stop()
	want := []string{"CRITICAL disk — /var/lib/portsip 96% used", "WARNING logs — 3 archives over budget", "disk recovered after 12m"}
	for _, w := range want {
		ms.waitMail(t, 30*time.Second, w)
	}
	// A round later, still one of each.
	time.Sleep(12 * time.Second)
	stop() // the log is read once the agent is done writing it
	got := map[string]int{}
	for _, m := range ms.messages(t) {
		got[m.Subject]++
	}
	for _, w := range want {
		if got["[pbxagent] pbx1: "+w] != 1 {
			t.Errorf("%q arrived %d times, want once (all: %v)\n%s", w, got["[pbxagent] pbx1: "+w], got, logs.String())
		}
	}
	if len(got) != len(want) {
		t.Errorf("mails %v, want only the three queued before the upgrade", got)
	}
	if left, _ := filepath.Glob(filepath.Join(queue, "*.mail.json")); len(left) != 0 {
		t.Errorf("old queue files left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(queue, "01796117880000000000-00.mail.json.corrupt")); err != nil {
		t.Errorf("the unreadable old file was not kept aside: %v", err)
	}
	if !strings.Contains(logs.String(), "kept aside") {
		t.Errorf("no log line about the file kept aside:\n%s", logs.String())
	}
}
