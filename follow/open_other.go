//go:build !windows

package follow

import "os"

// openShared opens path read-only. On Unix-like systems an open descriptor
// never prevents the writer from renaming, truncating or removing the file.
func openShared(path string) (*os.File, error) {
	return os.Open(path)
}
