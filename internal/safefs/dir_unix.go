//go:build unix

package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const (
	dirFlags  = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fileFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
)

// dirSys is the Unix part of a Dir.
type dirSys struct {
	// noOpenat2 is set once openat2 proved unavailable on this kernel.
	noOpenat2 atomic.Bool
}

// maxHops bounds the symlinks resolved in a configured path (as the kernel's
// MAXSYMLINKS).
const maxHops = 40

// OpenDir resolves the configured folder p once and opens it as a handle.
// A symlink on the way is followed only when it is owned by root and sits
// in a folder owned by root that nobody else can write; any other symlink
// is refused with ReasonSymlink.
func OpenDir(p string, opt DirOptions) (*Dir, error) {
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("folder %q: not an absolute path", p)
	}
	real, err := resolve(p)
	if err != nil {
		return nil, err
	}
	d := &Dir{path: real}
	fd, err := d.openPath(unix.AT_FDCWD, real, dirFlags, false)
	if err != nil {
		return nil, classify(real, err)
	}
	d.h = os.NewFile(uintptr(fd), real)
	d.info, err = statHandle(d.h, filepath.Base(real))
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("stat folder %s: %w", real, err)
	}
	d.Notes = notes(real, d.info, opt.Owner)
	return d, nil
}

// OpenSubdir opens the folder rel below d without following symlinks.
func (d *Dir) OpenSubdir(rel string) (*Dir, error) {
	if _, err := cleanRel(rel); err != nil {
		return nil, err
	}
	fd, err := d.openPath(int(d.h.Fd()), rel, dirFlags, true)
	if err != nil {
		return nil, classify(d.Join(rel), err)
	}
	s := &Dir{path: d.Join(rel), h: os.NewFile(uintptr(fd), d.Join(rel))}
	s.noOpenat2.Store(d.noOpenat2.Load())
	if s.info, err = statHandle(s.h, filepath.Base(rel)); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openFile opens the regular-file candidate rel below d.
func (d *Dir) openFile(rel string, _ []string) (*os.File, error) {
	fd, err := d.openPath(int(d.h.Fd()), rel, fileFlags, true)
	if err != nil {
		return nil, classify(d.Join(rel), err)
	}
	return os.NewFile(uintptr(fd), d.Join(rel)), nil
}

// openPath opens p relative to dirfd following no symlink: openat2 where
// the kernel has it, otherwise one openat with O_NOFOLLOW per component.
// beneath also refuses any path leaving dirfd.
func (d *Dir) openPath(dirfd int, p string, flags int, beneath bool) (int, error) {
	if !d.noOpenat2.Load() {
		fd, err := openat2(dirfd, p, flags, beneath)
		switch {
		case errors.Is(err, unix.ENOTDIR):
			// O_NOFOLLOW|O_DIRECTORY on a symlink; the walk below
			// tells a symlink from a file.
			return openEach(dirfd, p, flags)
		case !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM):
			return fd, err
		}
		// No openat2 (kernel before 5.6, or filtered by seccomp).
		d.noOpenat2.Store(true)
	}
	return openEach(dirfd, p, flags)
}

// openEach walks p one component at a time with O_NOFOLLOW.
func openEach(dirfd int, p string, flags int) (int, error) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := dirfd
	if strings.HasPrefix(p, "/") {
		fd, err := unix.Open("/", dirFlags, 0)
		if err != nil {
			return -1, err
		}
		cur = fd
	}
	closeCur := func() {
		if cur != dirfd {
			unix.Close(cur)
		}
	}
	for i, c := range parts {
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			closeCur()
			return -1, unix.EXDEV
		}
		fl := dirFlags
		if i == len(parts)-1 {
			fl = flags
		}
		next, err := retryEINTR(func() (int, error) { return unix.Openat(cur, c, fl, 0) })
		if errors.Is(err, unix.ENOTDIR) {
			var st unix.Stat_t
			if unix.Fstatat(cur, c, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = unix.ELOOP
			}
		}
		closeCur()
		if err != nil {
			return -1, err
		}
		cur = next
	}
	if cur == dirfd { // "" or "." only
		return unix.Dup(dirfd)
	}
	return cur, nil
}

func retryEINTR(f func() (int, error)) (int, error) {
	for {
		fd, err := f()
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// classify turns an open error into a refusal where it is one.
func classify(p string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return refuse(p, ReasonSymlink, "symlinks in PBX folders are never followed")
	case errors.Is(err, unix.EXDEV):
		return refuse(p, ReasonOutside, "")
	case errors.Is(err, unix.ENOTDIR):
		return refuse(p, ReasonNotDir, "")
	case errors.Is(err, unix.ENXIO), errors.Is(err, unix.EOPNOTSUPP):
		// O_NONBLOCK open of a FIFO without a writer does not fail; a
		// socket or an unconnected device does. The type, for the
		// message only, is looked up without following a symlink.
		var st unix.Stat_t
		if unix.Lstat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			return refuse(p, ReasonSocket, "")
		}
		return refuse(p, ReasonDevice, "")
	}
	return &fs.PathError{Op: "open", Path: p, Err: err}
}

// Stat describes rel below d without following a symlink (fstatat with
// AT_SYMLINK_NOFOLLOW relative to the handle; a symlink in a parent
// component is refused).
func (d *Dir) Stat(rel string) (Info, error) {
	parts, err := cleanRel(rel)
	if err != nil {
		return Info{}, err
	}
	dirfd := int(d.h.Fd())
	if len(parts) > 1 {
		fd, err := d.openPath(dirfd, strings.Join(parts[:len(parts)-1], "/"), dirFlags, true)
		if err != nil {
			return Info{}, classify(d.Join(rel), err)
		}
		defer unix.Close(fd)
		dirfd = fd
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, parts[len(parts)-1], &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Info{}, &fs.PathError{Op: "stat", Path: d.Join(rel), Err: err}
	}
	return infoOf(parts[len(parts)-1], &st), nil
}

// ReadDir lists the folder's entries (names and types, unsorted).
func (d *Dir) ReadDir() ([]fs.DirEntry, error) {
	// A fresh handle: reading moves the handle's offset.
	fd, err := unix.Openat(int(d.h.Fd()), ".", dirFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.path, err)
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.path, err)
	}
	return ents, nil
}

// Remove deletes the entry name directly inside d (unlinkat; never a
// folder).
func (d *Dir) Remove(name string) error {
	if _, err := cleanRel(name); err != nil || strings.Contains(name, "/") {
		return fmt.Errorf("%q is not a plain name inside the folder", name)
	}
	if err := unix.Unlinkat(int(d.h.Fd()), name, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: d.Join(name), Err: err}
	}
	return nil
}

// statHandle describes an open handle (fstat).
func statHandle(f *os.File, name string) (Info, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return Info{}, err
	}
	return infoOf(name, &st), nil
}

func infoOf(name string, st *unix.Stat_t) Info {
	return Info{
		Name:    name,
		Size:    st.Size,
		Mode:    modeOf(uint32(st.Mode)),
		ModTime: time.Unix(st.Mtim.Unix()),
		CTime:   time.Unix(st.Ctim.Unix()),
		ID:      ID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)},
		Links:   uint64(st.Nlink),
		UID:     int64(st.Uid),
	}
}

// modeOf converts a Unix st_mode to an fs.FileMode.
func modeOf(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// resolve returns the real path of p, following only trusted symlinks (see
// OpenDir).
func resolve(p string) (string, error) {
	rest := strings.Split(filepath.Clean(p), "/")
	real := "/"
	for hops := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			real = filepath.Dir(real)
			continue
		}
		next := filepath.Join(real, c)
		var st unix.Stat_t
		if err := unix.Lstat(next, &st); err != nil {
			return "", &fs.PathError{Op: "stat", Path: next, Err: err}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			real = next
			continue
		}
		if hops++; hops > maxHops {
			return "", &fs.PathError{Op: "resolve", Path: p, Err: unix.ELOOP}
		}
		var parent unix.Stat_t
		if err := unix.Lstat(real, &parent); err != nil {
			return "", &fs.PathError{Op: "stat", Path: real, Err: err}
		}
		if !trustedLink(st.Uid, parent.Uid, uint32(parent.Mode)) {
			return "", refuse(next, ReasonSymlink, "a symlink not made by root in a root-only folder; give the real folder in the configuration")
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			real = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return real, nil
}

// trustedLink reports whether a symlink can only have been made by root: it
// is owned by root, in a folder owned by root that group and others cannot
// write.
func trustedLink(linkUID, parentUID, parentMode uint32) bool {
	return linkUID == 0 && parentUID == 0 && parentMode&0o022 == 0
}
