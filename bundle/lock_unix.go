//go:build unix

package bundle

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive advisory lock on f for as long as it stays
// open, so that another run's RemoveStale leaves it alone.
func lockFile(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

// removeIfUnlocked removes p if it is a regular file nobody holds locked,
// and it is still the file that was locked when it is removed.
func removeIfUnlocked(p string) (bool, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, nil // a symlink (ELOOP) or unreadable: not ours
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !isOurs(fi) {
		return false, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return false, nil // in use by a running bundle
	}
	cur, err := os.Lstat(p)
	if err != nil || !os.SameFile(fi, cur) {
		return false, nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return true, nil
}
