//go:build !linux

package logprune

import "os"

// openDir returns the portable remover, which re-checks the folder's and the
// file's identity by path before every deletion.
func openDir(path string, want os.FileInfo) (remover, error) {
	return newPathRemover(path, want)
}

// sameChangeTime is true: the portable os.FileInfo has no change time, and
// os.SameFile already compares the volume's file identity.
func sameChangeTime(_, _ os.FileInfo) bool { return true }
