// Package safefs is the one way the agent opens a file of the PBX.
//
// The agent runs as root and reads folders that the PBX's own service user
// can write. Whatever that user puts there must not make the agent copy a
// file it should not, block, or read without end. The rules:
//
//   - A configured folder is resolved once (OpenDir): a symlink on the way is
//     honoured only when root made it in a folder only root can write (a data
//     folder moved to a bigger disk and linked back); any other symlink is
//     refused. The resolved folder is opened as a directory handle.
//   - Entries are opened relative to that handle, never by path from the
//     root, and no symlink is followed anywhere below it (Linux: openat2 with
//     RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH where the kernel has it, O_NOFOLLOW
//     per component otherwise; Windows: FILE_FLAG_OPEN_REPARSE_POINT and a
//     check that the opened file's final path is inside the folder).
//   - Files are opened non-blocking, so a FIFO never blocks the open, and
//     the type is checked on the open handle (fstat): only a regular file is
//     read. Refusals carry a Reason: symlink, fifo, device, socket,
//     directory, changed while reading.
//   - Reads are bounded (ReadFile's limit; callers of Open read a section).
//
// Folders that are world-writable, or owned by neither root nor the PBX user,
// are reported in Dir.Notes; a file with more than one hard link reports it
// in Info.Links.
package safefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

// Reasons a file or folder is refused.
const (
	ReasonSymlink   = "symlink"
	ReasonFIFO      = "fifo"
	ReasonDevice    = "device"
	ReasonSocket    = "socket"
	ReasonDirectory = "directory"
	ReasonNotDir    = "not a folder"
	ReasonOutside   = "outside the folder"
	ReasonChanged   = "changed while reading"
	ReasonTooLarge  = "too large"
)

// RefusedError is returned when a path names something that must not be
// read: a symlink, a FIFO, a device, a socket, a folder where a file was
// expected, or a file that changed while it was read.
type RefusedError struct {
	Path   string
	Reason string
	Detail string
}

func (e *RefusedError) Error() string {
	s := fmt.Sprintf("%s refused: %s", e.Path, e.Reason)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Refusal returns the reason when err is (or wraps) a RefusedError.
func Refusal(err error) (reason string, ok bool) {
	var r *RefusedError
	if errors.As(err, &r) {
		return r.Reason, true
	}
	return "", false
}

func refuse(p, reason, detail string) error {
	return &RefusedError{Path: p, Reason: reason, Detail: detail}
}

// ID is a file's identity on its volume (device and inode on Unix, volume
// serial number and file index on Windows).
type ID struct {
	Dev uint64
	Ino uint64
}

// Info describes a file without following a symlink.
type Info struct {
	Name    string
	Size    int64
	Mode    fs.FileMode
	ModTime time.Time
	ID      ID
	// Links is the number of hard links; more than one is worth recording
	// (the kernel's protected_hardlinks keeps the PBX user from linking
	// files it does not own).
	Links uint64
	// UID is the owner on Unix; -1 where unknown.
	UID int64
	// CTime is the inode change time on Unix (zero elsewhere).
	CTime time.Time
}

// IsRegular reports whether the file is a regular file.
func (i Info) IsRegular() bool { return i.Mode.IsRegular() }

// Same reports whether two Infos describe the same file.
func (i Info) Same(o Info) bool { return i.ID == o.ID }

// TypeReason is the refusal reason for a file mode that is not a regular
// file (symlink, fifo, device, socket, directory), or "" for a regular file.
func TypeReason(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return ""
	case m&fs.ModeSymlink != 0:
		return ReasonSymlink
	case m&fs.ModeNamedPipe != 0:
		return ReasonFIFO
	case m&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return ReasonDevice
	case m&fs.ModeSocket != 0:
		return ReasonSocket
	case m.IsDir():
		return ReasonDirectory
	default:
		return "not a regular file"
	}
}

// File is a regular file opened through a Dir.
type File struct {
	*os.File
	info Info
}

// Info is the file's description taken on the open handle.
func (f *File) Info() Info { return f.info }

// Restat describes the open file again, on its handle.
func (f *File) Restat() (Info, error) { return statHandle(f.File, f.info.Name) }

// Dir is an open handle on a PBX folder. Its methods open entries relative to
// it without following symlinks.
type Dir struct {
	path string // resolved folder the handle was opened from
	h    *os.File
	info Info
	// Notes are ownership and permission concerns about the folder, for
	// the manifest.
	Notes []string
	dirSys
}

// DirOptions tune OpenDir.
type DirOptions struct {
	// Owner is the PBX service user's id; a folder owned by neither root
	// nor Owner is noted. -1 means unknown: only root is expected.
	Owner int64
}

// Path is the real folder the handle was opened from (after resolving the
// trusted symlinks of the configured path).
func (d *Dir) Path() string { return d.path }

// Info describes the folder itself.
func (d *Dir) Info() Info { return d.info }

// Close releases the handle.
func (d *Dir) Close() error {
	if d == nil || d.h == nil {
		return nil
	}
	err := d.h.Close()
	d.h = nil
	return err
}

// Join returns the host path of rel inside the folder, for messages.
func (d *Dir) Join(rel string) string {
	return d.path + string(os.PathSeparator) + strings.ReplaceAll(rel, "/", string(os.PathSeparator))
}

// cleanRel checks that rel is a slash-separated path below the folder:
// not absolute, no "." or ".." component, no empty component, no NUL.
func cleanRel(rel string) ([]string, error) {
	if rel == "" || strings.HasPrefix(rel, "/") || strings.ContainsAny(rel, "\\\x00") || path.Clean(rel) != rel {
		return nil, fmt.Errorf("%q is not a plain path inside the folder", rel)
	}
	parts := strings.Split(rel, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || (len(p) == 2 && p[1] == ':') {
			return nil, fmt.Errorf("%q is not a plain path inside the folder", rel)
		}
	}
	return parts, nil
}

// Open opens rel (slash-separated, below the folder) for reading. It
// returns a RefusedError when a component is a symlink or the file is not
// a regular file; the open never blocks on a FIFO.
func (d *Dir) Open(rel string) (*File, error) {
	parts, err := cleanRel(rel)
	if err != nil {
		return nil, err
	}
	f, err := d.openFile(rel, parts)
	if err != nil {
		return nil, err
	}
	info, err := statHandle(f, parts[len(parts)-1])
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", d.Join(rel), err)
	}
	if r := TypeReason(info.Mode); r != "" {
		f.Close()
		return nil, refuse(d.Join(rel), r, "")
	}
	return &File{File: f, info: info}, nil
}

// ErrTooLarge is wrapped by ReadFile when the file exceeds the limit.
var ErrTooLarge = errors.New("file larger than the limit")

// ReadFile reads a whole small file (a configuration file, VERSION) of at
// most limit bytes. A file that grows past the limit or changes while it
// is read is refused.
func (d *Dir) ReadFile(rel string, limit int64) ([]byte, Info, error) {
	f, err := d.Open(rel)
	if err != nil {
		return nil, Info{}, err
	}
	defer f.Close()
	before := f.info
	if before.Size > limit {
		return nil, before, refuse(d.Join(rel), ReasonTooLarge, fmt.Sprintf("%d bytes, limit %d: %v", before.Size, limit, ErrTooLarge))
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, before, fmt.Errorf("read %s: %w", d.Join(rel), err)
	}
	if int64(len(data)) > limit {
		return nil, before, refuse(d.Join(rel), ReasonTooLarge, fmt.Sprintf("grew past the %d-byte limit: %v", limit, ErrTooLarge))
	}
	after, err := f.Restat()
	if err != nil {
		return nil, before, fmt.Errorf("stat %s: %w", d.Join(rel), err)
	}
	if changed(before, after, int64(len(data))) {
		return nil, before, refuse(d.Join(rel), ReasonChanged, "")
	}
	return data, after, nil
}

// changed reports whether a file read whole changed meanwhile: its size or
// modification time moved, or the bytes read differ from its size.
func changed(before, after Info, read int64) bool {
	return after.Size != before.Size || !after.ModTime.Equal(before.ModTime) || read != after.Size
}

// ReadLimited reads at most limit bytes from the open file, for callers
// that want the head of a file (the first line of VERSION).
func ReadLimited(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, limit))
}

// notes returns the ownership concerns about a folder: world-writable, or
// owned by neither root nor the PBX user.
func notes(p string, info Info, owner int64) []string {
	var out []string
	if info.Mode.Perm()&0o002 != 0 {
		out = append(out, fmt.Sprintf("folder %s is world-writable (mode %v): anyone on the host can plant files there", p, info.Mode.Perm()))
	}
	if info.UID > 0 && info.UID != owner {
		out = append(out, fmt.Sprintf("folder %s is owned by uid %d, neither root nor the PBX user", p, info.UID))
	}
	return out
}
