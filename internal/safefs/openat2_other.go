//go:build unix && !linux

package safefs

import "golang.org/x/sys/unix"

// openat2 is Linux-only; elsewhere the per-component walk is used.
func openat2(int, string, int, bool) (int, error) { return -1, unix.ENOSYS }
