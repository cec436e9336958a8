//go:build !windows

package follow

import "os"

// createAppend creates path exclusively for appending, as the PBX does.
func createAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
}
