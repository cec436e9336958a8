//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestProgressLineTmux runs `pbxagent bundle --duration` in a tmux pane of
// 80 and of 120 columns: at the end of the window the screen holds one
// line (redrawn in place, never wrapped), no wider than the pane, and its
// byte count grows while callmanager.log is written.
func TestProgressLineTmux(t *testing.T) {
	have(t, "tmux")
	for _, width := range []int{80, 120} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			f := newFixture(t)
			sock := fmt.Sprintf("pbxagent-e2e-%d-%d", os.Getpid(), width)
			done := filepath.Join(f.root, "exit")
			tmux := func(args ...string) string {
				t.Helper()
				out, err := exec.Command("tmux", append([]string{"-L", sock}, args...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("tmux %v: %v\n%s", args, err, out)
				}
				return string(out)
			}
			script := fmt.Sprintf("%s bundle -c %s --duration 6s --no-capture >/dev/null; echo $? >%s; sleep 120", bin, f.config, done)
			tmux("new-session", "-d", "-x", fmt.Sprint(width), "-y", "30", "sh", "-c", script)
			t.Cleanup(func() { exec.Command("tmux", "-L", sock, "kill-server").Run() })
			screen := func() []string {
				var lines []string
				for _, l := range strings.Split(tmux("capture-pane", "-p"), "\n") {
					if strings.TrimSpace(l) != "" {
						lines = append(lines, l)
					}
				}
				return lines
			}
			collected := regexp.MustCompile(`([0-9.]+ [KMG]?i?B) collected`)
			var first string
			log, err := os.OpenFile(filepath.Join(f.logs, "callmanager.log"), os.O_APPEND|os.O_WRONLY, 0)
			must(t, err)
			defer log.Close()
			var last []string
			for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
				fmt.Fprintf(log, "%s [INFO] callmanager: live line during the window SIP/2.0 180 Ringing\n", time.Now().Format("2006-01-02 15:04:05.000"))
				s := screen()
				if len(s) == 0 {
					continue
				}
				last = s
				if m := collected.FindStringSubmatch(s[len(s)-1]); m != nil && first == "" {
					first = m[1]
				}
				if strings.Contains(s[len(s)-1], " 1s left") || strings.Contains(s[len(s)-1], " 0s left") {
					break
				}
			}
			if len(last) != 1 {
				t.Fatalf("at the end of the window the %d-column screen holds %d lines, want 1:\n%s", width, len(last), strings.Join(last, "\n"))
			}
			if n := len([]rune(last[0])); n >= width {
				t.Errorf("the line is %d columns wide on a %d-column pane: %q", n, width, last[0])
			}
			if !strings.Contains(last[0], "left") {
				t.Errorf("no countdown at the end of the window: %q", last[0])
			}
			if m := collected.FindStringSubmatch(last[0]); width >= 120 && (m == nil || m[1] == first) {
				t.Errorf("the collected bytes did not change during the window (first %q, last %q)", first, last[0])
			}
			for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
				if data, err := os.ReadFile(done); err == nil {
					if code := strings.TrimSpace(string(data)); code != "0" {
						t.Fatalf("pbxagent bundle exited %s", code)
					}
					if s := screen(); len(s) != 0 {
						t.Errorf("the live line was not erased at the end: %q", s)
					}
					return
				}
			}
			t.Fatal("pbxagent bundle did not finish")
		})
	}
}
