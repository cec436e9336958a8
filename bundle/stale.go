package bundle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Temporary names a run writes in the output folder: the archive being
// written and, where an open file cannot be unlinked (Windows), spools.
const (
	partialPattern = ".pbx-support-*.partial"
	spoolPattern   = ".pbx-support-*.spool"
)

// RemoveStale removes the temporary files of this naming that earlier runs
// left in dir (killed, or the host lost power) and returns their names.
// A file is removed only if no process holds its lock: a run in progress
// locks its .partial file for as long as it writes it. Symlinks and other
// non-regular files of that naming are left alone (they are not ours).
func RemoveStale(dir string) (removed []string, errs []error) {
	for _, pat := range []string{partialPattern, spoolPattern} {
		names, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return removed, append(errs, err)
		}
		for _, p := range names {
			ok, err := removeIfUnlocked(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("stale temporary bundle %s: %w", p, err))
			}
			if ok {
				removed = append(removed, filepath.Base(p))
			}
		}
	}
	return removed, errs
}

// StaleNote is the sentence a run reports after RemoveStale.
func StaleNote(dir string, removed []string) string {
	return fmt.Sprintf("removed %d unfinished bundle file(s) left in %s by an interrupted run: %s",
		len(removed), dir, strings.Join(removed, ", "))
}

// isOurs reports whether fi is a regular file (never a symlink or a
// folder) that can be a temporary bundle file.
func isOurs(fi os.FileInfo) bool { return fi.Mode().IsRegular() }
