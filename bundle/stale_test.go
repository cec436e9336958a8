//go:build unix

package bundle

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRemoveStale: an unlocked leftover partial is removed and named; the
// partial of a run in progress, a symlink of that naming and other files
// stay.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(Options{Dir: dir, Name: "b.tar.gz", Format: TarGz, Guard: NewGuard(dir, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	stale := filepath.Join(dir, ".pbx-support-123.partial")
	if err := os.WriteFile(stale, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "keep")
	os.WriteFile(target, []byte("x"), 0o600)
	link := filepath.Join(dir, ".pbx-support-456.partial")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "pbx-support-host-1.tar.gz")
	os.WriteFile(other, []byte("done"), 0o600)

	removed, errs := RemoveStale(dir)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if !slices.Equal(removed, []string{".pbx-support-123.partial"}) {
		t.Errorf("removed %v", removed)
	}
	for _, p := range []string{w.TempPath(), link, target, other} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("stale partial still there: %v", err)
	}
}
