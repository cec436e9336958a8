//go:build linux

package logprune

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// dirRemover deletes files relative to a descriptor of the pinned folder, so
// that no path lookup above the folder happens after it was opened.
type dirRemover struct {
	fd   int
	path string
}

// openDir opens the folder without following a symlink in its last
// component and checks it is the planned folder.
func openDir(path string, want os.FileInfo) (remover, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open log folder %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("stat log folder %s: %w", path, err)
	}
	ws, ok := want.Sys().(*syscall.Stat_t)
	if !ok || uint64(st.Dev) != uint64(ws.Dev) || uint64(st.Ino) != uint64(ws.Ino) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", path, ErrDirChanged)
	}
	return &dirRemover{fd: fd, path: path}, nil
}

func (d *dirRemover) remove(f *File) error {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, f.Name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return skipError(SkipGone)
	}
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	ws, ok := f.info.Sys().(*syscall.Stat_t)
	if !ok {
		return skipError(SkipNoIdentity)
	}
	mtime := time.Unix(st.Mtim.Unix())
	if st.Mode&unix.S_IFMT != unix.S_IFREG || uint64(st.Dev) != uint64(ws.Dev) || uint64(st.Ino) != uint64(ws.Ino) ||
		st.Size != f.info.Size() || !mtime.Equal(f.info.ModTime()) ||
		int64(st.Ctim.Sec) != int64(ws.Ctim.Sec) || int64(st.Ctim.Nsec) != int64(ws.Ctim.Nsec) {
		return skipError(SkipChanged)
	}
	if err := unix.Unlinkat(d.fd, f.Name, 0); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return skipError(SkipGone)
		}
		return fmt.Errorf("unlink: %w", err)
	}
	return nil
}

func (d *dirRemover) close() error {
	if err := unix.Close(d.fd); err != nil {
		return fmt.Errorf("close log folder %s: %w", d.path, err)
	}
	return nil
}

// sameChangeTime compares the inode change times of two Lstat results: a
// file created in place of another, even with a reused inode number, has a
// newer one, and it cannot be set back.
func sameChangeTime(a, b os.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Ctim == sb.Ctim
}
