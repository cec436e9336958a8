//go:build linux

package collectors

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPBXVersionHostile: a VERSION that is a symlink to a root-only file or
// a FIFO is refused, never read or waited on.
func TestPBXVersionHostile(t *testing.T) {
	for _, kind := range []string{"symlink", "fifo"} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			marker := filepath.Join(root, "shadow")
			if err := os.WriteFile(marker, []byte("MARKER-root-only\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(root, "pbx")
			os.MkdirAll(filepath.Join(data, "log"), 0o755)
			v := filepath.Join(data, "VERSION")
			if kind == "symlink" {
				os.Symlink(marker, v)
			} else {
				unix.Mkfifo(v, 0o644)
			}
			done := make(chan *Report, 1)
			go func() {
				rep, err := NewPBX(data, filepath.Join(data, "log")).Collect(context.Background())
				if err != nil {
					t.Error(err)
				}
				done <- rep
			}()
			select {
			case rep := <-done:
				d := rep.Data.(PBXData)
				if strings.Contains(rep.Summary+d.Version, "MARKER") || !strings.Contains(d.VersionError, "refused: "+kind) {
					t.Errorf("version %q error %q summary %q", d.Version, d.VersionError, rep.Summary)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the pbx collector blocked on VERSION")
			}
		})
	}
}
