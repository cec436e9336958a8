package mailer

import (
	"bytes"
	"context"
	"net/mail"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/internal/spool"
)

// copyLegacy copies the golden queue files (written by the previous
// version's Mailer.Enqueue) into dir and returns their names.
func copyLegacy(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "legacy-queue", "*"+LegacyExt))
	if err != nil || len(names) != 3 {
		t.Fatalf("golden queue: %v %v", names, err)
	}
	var out []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, filepath.Base(n)), b, 0o600))
		out = append(out, filepath.Base(n))
	}
	return out
}

// TestUpgradeDeliversOldQueueOnce: the mails the previous version left
// queued are moved into the email queue at start (the old files removed,
// a corrupt one kept aside) and each is delivered exactly once, with its
// subject, body, Date and Message-ID — also when the move was interrupted
// after writing a new item and before removing the old file.
func TestUpgradeDeliversOldQueueOnce(t *testing.T) {
	dir := t.TempDir() // the queue folder: old mails directly in it
	old := copyLegacy(t, dir)
	must(t, os.WriteFile(filepath.Join(dir, "01796117880000000000-00.mail.json"), []byte(`{"created":"2026-12-01T09`), 0o600))
	ts := startServer(t, serverOpts{mode: "plain", port: freePort(t)})
	cfg := smtpConfig(ts, 0, "none", "")
	cfg.AllowPlain = true
	m, lb := newMailer(t, cfg, dir, 10)
	must(t, ImportQueue(m.q, dir, newLogger(lb)))

	if n, _ := m.Queued(); n != 3 {
		t.Fatalf("email queue holds %d after the upgrade, want 3", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "01796117880000000000-00.mail.json"+spool.CorruptSuffix)); err != nil {
		t.Errorf("corrupt old file not kept aside: %v", err)
	}
	if !strings.Contains(lb.String(), "kept aside") {
		t.Errorf("no log line for the corrupt file:\n%s", lb.String())
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"+LegacyExt))
	if len(left) != 0 {
		t.Errorf("old files left: %v", left)
	}
	ents, _ := os.ReadDir(m.q.Dir())
	for _, e := range ents {
		fi, _ := e.Info()
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", e.Name(), fi.Mode().Perm())
		}
	}
	// An interrupted move: the new item written, the old file still there.
	b, _ := os.ReadFile(filepath.Join("testdata", "legacy-queue", old[0]))
	must(t, os.WriteFile(filepath.Join(dir, old[0]), b, 0o600))
	must(t, ImportQueue(m.q, dir, nil))
	if n, _ := m.Queued(); n != 3 {
		t.Fatalf("an interrupted move queued %d, want 3", n)
	}

	must(t, m.Flush(context.Background()))
	must(t, ImportQueue(m.q, dir, nil)) // the next start
	must(t, m.Flush(context.Background()))
	want := []string{"[pbxagent] pbx1: CRITICAL disk — /var/lib/portsip 96% used",
		"[pbxagent] pbx1: WARNING logs — 3 archives over budget", "[pbxagent] pbx1: disk recovered after 12m"}
	if got := subjects(t, ts); !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want each old mail once, in order: %q", got, want)
	}
	msgs := ts.messages()
	first, p := parts(t, msgs[0].Data)
	if id := first.Header.Get("Message-Id"); id != "<pbxagent.1796117460000000000.9937c94f29a79654@pbx1>" {
		t.Errorf("Message-ID %q, want the one the old version gave", id)
	}
	if d, err := first.Header.Date(); err != nil || !d.Equal(time.Date(2026, 12, 1, 9, 31, 0, 0, time.UTC)) {
		t.Errorf("Date %v (%v), want when it was first queued", d, err)
	}
	if !strings.Contains(p["text/plain"], "/var/lib/portsip 96% used") || !strings.Contains(p["text/html"], "<b>CRITICAL disk</b>") {
		t.Errorf("bodies %q", p)
	}
	second, err := mail.ReadMessage(bytes.NewReader(msgs[1].Data))
	must(t, err)
	if ct := second.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("a text-only old mail became %q", ct)
	}
}
