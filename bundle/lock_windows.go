//go:build windows

package bundle

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes an exclusive lock on the first byte range of f for as
// long as it stays open, so that another run's RemoveStale leaves it alone.
func lockFile(f *os.File) error {
	ol := new(windows.Overlapped)
	return windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
}

// removeIfUnlocked removes p if it is a regular file nobody holds locked.
func removeIfUnlocked(p string) (bool, error) {
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil || !isOurs(fi) {
		return false, err
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return false, nil // open elsewhere without sharing: in use
	}
	if lockFile(f) != nil {
		f.Close()
		return false, nil
	}
	f.Close()
	if err := os.Remove(p); err != nil {
		return false, nil // opened again meanwhile
	}
	return true, nil
}
