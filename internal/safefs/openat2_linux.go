//go:build linux

package safefs

import "golang.org/x/sys/unix"

// openat2 opens p relative to dirfd following no symlink (and, with
// beneath, never leaving dirfd).
func openat2(dirfd int, p string, flags int, beneath bool) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags), Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	if beneath {
		how.Resolve |= unix.RESOLVE_BENEATH
	}
	return retryEINTR(func() (int, error) { return unix.Openat2(dirfd, p, &how) })
}
