package recorder

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// openRegular opens path for reading only if it is a regular file and not
// a symlink (the ring folder is the agent's own, but it is checked anyway).
func openRegular(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|noFollow, 0)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !os.SameFile(st, fi) {
		f.Close()
		return nil, fmt.Errorf("%s changed while it was opened", path)
	}
	return f, nil
}

func limitReader(r io.Reader, n int64) io.Reader { return io.LimitReader(r, n) }
