//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/internal/portsiptest"
)

// autoBundles lists the bundles (not their signatures) in dir.
func autoBundles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "pbx-support-*.tar.gz"))
	must(t, err)
	return m
}

// waitNewMail waits for a mail not among old whose subject holds want.
func (ms *mailServer) waitNewMail(t *testing.T, old []mail, timeout time.Duration, want string) mail {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range old {
		seen[m.ID] = true
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, m := range ms.messages(t) {
			if !seen[m.ID] && strings.Contains(m.Subject, want) {
				return m
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("no new mail about %q within %s", want, timeout)
	return mail{}
}

// TestRunAlertTakesBundle: the fake API gateway answers 502, so the gateway
// check turns critical: `pbxagent run` takes one bundle of its flight
// recorder's last minutes by itself, into the auto-bundle folder; it
// verifies, and the alert mail names it with its size. After a recovery, a
// second failure within the cool-down takes none, and its mail says why.
func TestRunAlertTakesBundle(t *testing.T) {
	needRoot(t)
	ms := newMailServer(t)
	f := portsiptest.New(t)
	data := filepath.Join(t.TempDir(), "pbx")
	must(t, os.MkdirAll(data, 0o755))
	state := t.TempDir()
	cfg := watchConfig(t, data, state, ms, fmt.Sprintf(`api:
  url: %s
  username: %s
  password: %s
  insecure_skip_verify: true
recorder:
  interfaces: [lo]
  segment_duration: 5s
  auto_bundle:
    checks: [gateway]
    window: 2m
    cooldown: 30m
`, f.URL, portsiptest.User, portsiptest.Password))
	// watchConfig turns the gateway check off; this test is about it.
	raw, err := os.ReadFile(cfg)
	must(t, err)
	write(t, cfg, strings.Replace(string(raw), "  gateway:\n    enabled: false\n", "", 1))

	run := startProc(t, "pbxagent run", exec.Command(bin, "run", "--config", cfg), "flight recorder recording")
	run.awaitReady(t)
	defer run.kill()
	dir := filepath.Join(state, "auto-bundles")

	f.Set(func(st *portsiptest.State) { st.InfoMode = "502" })
	first := ms.waitNewMail(t, ms.messages(t), 90*time.Second, "gateway")
	paths := autoBundles(t, dir)
	if len(paths) != 1 {
		t.Fatalf("%d bundles in %s after the gateway failed, want 1: %v\n%s", len(paths), dir, paths, run.errText())
	}
	for _, want := range []string{"Support bundle for this change", paths[0], "pbxagent verify " + paths[0]} {
		if !strings.Contains(first.Text, want) {
			t.Errorf("the alert mail lacks %q:\n%s", want, first.Text)
		}
	}
	if !regexp.MustCompile(`(?m)^  [0-9.]+ ?[KMG]?i?B\r?$`).MatchString(first.Text) {
		t.Errorf("the alert mail does not give the bundle's size:\n%s", first.Text)
	}
	if v := runAgent(t, "verify", "--config", cfg, paths[0]); v.code != 0 {
		t.Fatalf("verify %s: exit %d\n%s%s", paths[0], v.code, v.stdout, v.stderr)
	}
	if fi, err := os.Stat(paths[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("bundle mode: %v %v, want 0600", fi.Mode(), err)
	}

	// Recovery, then a second failure within the cool-down: no bundle.
	f.Set(func(st *portsiptest.State) { st.InfoMode = "" })
	ms.waitNewMail(t, ms.messages(t), 60*time.Second, "recovered")
	f.Set(func(st *portsiptest.State) { st.InfoMode = "502" })
	second := ms.waitNewMail(t, ms.messages(t), 60*time.Second, "gateway")
	if !strings.Contains(second.Text, "No support bundle taken for this change: within the cool-down") {
		t.Errorf("the second failure's mail does not say why no bundle was taken:\n%s", second.Text)
	}
	if n := len(autoBundles(t, dir)); n != 1 {
		t.Errorf("%d bundles after a second failure within the cool-down, want 1", n)
	}
	must(t, run.cmd.Process.Signal(syscall.SIGTERM))
	if res := run.wait(t); res.code != 0 {
		t.Fatalf("run exit %d\n%s", res.code, res.stderr)
	}
}
