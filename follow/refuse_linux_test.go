//go:build linux

package follow

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pbxagent/pbxagent/internal/safefs"
)

// TestRotationToHostileFile: a symlink to a root-only file, a FIFO or a
// directory put in place of the log at rotation ends following with the
// refusal; the old file's lines are kept and nothing of the target is read.
func TestRotationToHostileFile(t *testing.T) {
	plant := map[string]func(path, marker string) error{
		safefs.ReasonSymlink:   func(p, m string) error { return os.Symlink(m, p) },
		safefs.ReasonFIFO:      func(p, _ string) error { return unix.Mkfifo(p, 0o644) },
		safefs.ReasonDirectory: func(p, _ string) error { return os.Mkdir(p, 0o755) },
	}
	for reason, mk := range plant {
		t.Run(reason, func(t *testing.T) {
			root := t.TempDir()
			marker := filepath.Join(root, "shadow")
			if err := os.WriteFile(marker, []byte("MARKER-root-only\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(root, "log")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "callmanager.log")
			if err := os.WriteFile(p, []byte(line(1)), 0o644); err != nil {
				t.Fatal(err)
			}
			fl := openT(t, p, Options{Poll: DefaultPoll, NoWatch: true})
			w, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			w.WriteString(line(2))
			w.Close()
			if err := os.Rename(p, p+".1"); err != nil {
				t.Fatal(err)
			}
			if err := mk(p, marker); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var out bytes.Buffer
			ch := startRun(ctx, fl, &out)
			r := wait(t, ch)
			cancel()
			if got, ok := safefs.Refusal(r.err); !ok || got != reason {
				t.Fatalf("Run error %v, want refusal %q", r.err, reason)
			}
			if strings.Contains(out.String(), "MARKER") {
				t.Fatal("the target of the planted file was copied")
			}
			if out.String() != line(2) {
				t.Errorf("copied %q, want the line written before rotation", out.String())
			}
		})
	}
}

// TestOpenRefusesSymlink: a symlink already in place is refused at Open.
func TestOpenRefusesSymlink(t *testing.T) {
	root := t.TempDir()
	marker := filepath.Join(root, "shadow")
	os.WriteFile(marker, []byte("x"), 0o600)
	p := filepath.Join(root, "callmanager.log")
	if err := os.Symlink(marker, p); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, Options{}); err == nil {
		t.Fatal("a symlinked log was opened")
	} else if r, _ := safefs.Refusal(err); r != safefs.ReasonSymlink {
		t.Fatalf("Open: %v", err)
	}
	os.Remove(p)
	unix.Mkfifo(p, 0o644)
	if _, err := Open(p, Options{}); err == nil {
		t.Fatal("a FIFO was opened")
	} else if r, _ := safefs.Refusal(err); r != safefs.ReasonFIFO {
		t.Fatalf("Open: %v", err)
	}
}
