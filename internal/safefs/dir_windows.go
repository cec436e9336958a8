//go:build windows

package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/windows"
)

// dirSys is the Windows part of a Dir.
type dirSys struct {
	// final is the folder's final path (GetFinalPathNameByHandle).
	final string
}

// OpenDir resolves the configured folder once (filepath.EvalSymlinks) and
// opens the resolved folder, refusing it if it is itself a reparse point.
func OpenDir(p string, opt DirOptions) (*Dir, error) {
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("folder %q: not an absolute path", p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, err
	}
	h, info, err := openHandle(real, true)
	if err != nil {
		return nil, err
	}
	final, err := finalPath(h)
	if err != nil {
		h.Close()
		return nil, err
	}
	d := &Dir{path: real, h: h, info: info, dirSys: dirSys{final: final}}
	d.Notes = notes(real, info, opt.Owner)
	return d, nil
}

// OpenSubdir opens the folder rel below d without following reparse points.
func (d *Dir) OpenSubdir(rel string) (*Dir, error) {
	if _, err := cleanRel(rel); err != nil {
		return nil, err
	}
	h, info, err := d.openBeneath(rel, true)
	if err != nil {
		return nil, err
	}
	final, err := finalPath(h)
	if err != nil {
		h.Close()
		return nil, err
	}
	return &Dir{path: d.Join(rel), h: h, info: info, dirSys: dirSys{final: final}}, nil
}

func (d *Dir) openFile(rel string, _ []string) (*os.File, error) {
	h, _, err := d.openBeneath(rel, false)
	return h, err
}

// openBeneath opens rel below d and checks that the handle's final path is
// inside the folder (no reparse point on the way).
func (d *Dir) openBeneath(rel string, wantDir bool) (*os.File, Info, error) {
	h, info, err := openHandle(d.Join(rel), wantDir)
	if err != nil {
		return nil, Info{}, err
	}
	final, err := finalPath(h)
	if err != nil {
		h.Close()
		return nil, Info{}, err
	}
	if !winBeneath(d.final, final) {
		h.Close()
		return nil, Info{}, refuse(d.Join(rel), ReasonSymlink, "a reparse point on the way leads to "+final)
	}
	return h, info, nil
}

// openHandle opens p with FILE_FLAG_OPEN_REPARSE_POINT (a symlink or
// junction is opened itself, not followed), sharing read, write and delete
// so the PBX can still rotate its logs, and checks the handle's type.
func openHandle(p string, wantDir bool) (*os.File, Info, error) {
	u, err := windows.UTF16PtrFromString(p)
	if err != nil {
		return nil, Info{}, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	flags := uint32(windows.FILE_FLAG_OPEN_REPARSE_POINT | windows.FILE_FLAG_BACKUP_SEMANTICS)
	h, err := windows.CreateFile(u, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, flags, 0)
	if err != nil {
		return nil, Info{}, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(h), p)
	info, err := statWin(f, filepath.Base(p))
	if err != nil {
		f.Close()
		return nil, Info{}, err
	}
	ft, _ := windows.GetFileType(h)
	if r := winReason(info.attrs, ft, wantDir); r != "" {
		f.Close()
		return nil, Info{}, refuse(p, r, "")
	}
	return f, info.Info, nil
}

type winInfo struct {
	Info
	attrs uint32
}

func statHandle(f *os.File, name string) (Info, error) {
	i, err := statWin(f, name)
	return i.Info, err
}

func statWin(f *os.File, name string) (winInfo, error) {
	var bi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(windows.Handle(f.Fd()), &bi); err != nil {
		return winInfo{}, &fs.PathError{Op: "stat", Path: f.Name(), Err: err}
	}
	mode := fs.FileMode(0o644)
	switch {
	case bi.FileAttributes&winAttrReparsePoint != 0:
		mode = fs.ModeSymlink | 0o777
	case bi.FileAttributes&winAttrDirectory != 0:
		mode = fs.ModeDir | 0o755
	}
	return winInfo{Info: Info{
		Name:    name,
		Size:    int64(bi.FileSizeHigh)<<32 | int64(bi.FileSizeLow),
		Mode:    mode,
		ModTime: time.Unix(0, bi.LastWriteTime.Nanoseconds()),
		ID:      ID{Dev: uint64(bi.VolumeSerialNumber), Ino: uint64(bi.FileIndexHigh)<<32 | uint64(bi.FileIndexLow)},
		Links:   uint64(bi.NumberOfLinks),
		UID:     -1,
	}, attrs: bi.FileAttributes}, nil
}

func finalPath(f *os.File) (string, error) {
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n, err := windows.GetFinalPathNameByHandle(windows.Handle(f.Fd()), &buf[0], uint32(len(buf)), 0)
	if err != nil {
		return "", fmt.Errorf("final path of %s: %w", f.Name(), err)
	}
	return windows.UTF16ToString(buf[:n]), nil
}

// Stat describes rel below d without following a reparse point.
func (d *Dir) Stat(rel string) (Info, error) {
	if _, err := cleanRel(rel); err != nil {
		return Info{}, err
	}
	u, err := windows.UTF16PtrFromString(d.Join(rel))
	if err != nil {
		return Info{}, err
	}
	h, err := windows.CreateFile(u, windows.FILE_READ_ATTRIBUTES,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return Info{}, &fs.PathError{Op: "stat", Path: d.Join(rel), Err: err}
	}
	f := os.NewFile(uintptr(h), d.Join(rel))
	defer f.Close()
	return statHandle(f, filepath.Base(rel))
}

// ReadDir lists the folder's entries.
func (d *Dir) ReadDir() ([]fs.DirEntry, error) {
	return os.ReadDir(d.path)
}

// Remove deletes the file name directly inside d after checking, on a
// handle, that it is a regular file inside the folder.
func (d *Dir) Remove(name string) error {
	if _, err := cleanRel(name); err != nil || strings.Contains(name, "/") {
		return fmt.Errorf("%q is not a plain name inside the folder", name)
	}
	f, _, err := d.openBeneath(name, false)
	if err != nil {
		return err
	}
	f.Close()
	if err := os.Remove(d.Join(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
