// Package logprune frees disk space by deleting archived PBX logs, the fix
// the PortSIP troubleshooting guide gives for a full disk ("free space by
// deleting archived log files with the .gz extension in
// /var/lib/portsip/pbx/log").
//
// Deleting files as root is dangerous, so the package is deliberately narrow.
// Its safety rules:
//
//   - Only regular files whose name ends in ".gz" directly inside the log
//     folder are candidates. Nothing else is ever deleted: active logs
//     (callmanager.log, nats.log, ... — any name not ending in ".gz"),
//     subfolders and their contents (there is no recursion), symlinks (a
//     symlink named x.gz is skipped, neither it nor its target is touched),
//     devices, sockets and pipes.
//   - The folder is opened once with safefs, as a directory handle: it must
//     not be a symlink itself (ErrSymlinkDir), and a symlink in a parent is
//     honoured only if root made it in a folder only root can write (a data
//     folder moved to a bigger disk and linked back); any other is refused.
//     Result.Resolved is the folder really worked in, and the one printed.
//   - Plan lists and describes entries relative to that handle, never by
//     path. Apply opens the resolved folder again the same way and refuses
//     to run if it is no longer the planned folder (device and inode), so a
//     folder swapped for a symlink between Plan and Apply cannot redirect
//     the deletions elsewhere. Deletions are relative to the handle
//     (unlinkat on Unix).
//   - Right before each deletion the file is looked up again without
//     following symlinks and must still be the planned file: a regular file
//     with the same identity, size and modification time, and on Unix the
//     same change time (which cannot be set back, so a new file that reuses
//     the inode number is told apart). A file replaced,
//     grown or turned into a symlink since Plan is skipped (time-of-check to
//     time-of-use). The remaining window between that check and the unlink
//     can at worst remove another *.gz name inside the same folder.
//   - Names come only from reading the folder; a name holding a path
//     separator, "." or ".." is rejected.
//   - Every deletion is logged with the file's name, size and modification
//     time, and the Result lists every deleted and skipped file and every
//     error, so that each deletion can be reported in the next alert.
//
// Selection: every archive older than the maximum age, then the oldest
// remaining archives until the archives left take no more than the total
// budget. A dry run returns the same plan without deleting anything.
package logprune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pbxagent/pbxagent/internal/safefs"
)

// ArchiveSuffix ends the name of every archived PBX log.
const ArchiveSuffix = ".gz"

// ErrSymlinkDir is returned when the log folder given is itself a symlink.
var ErrSymlinkDir = errors.New("log folder is a symlink; give the real folder")

// ErrDirChanged is returned by Apply when the folder at the planned path is no
// longer the folder that was planned.
var ErrDirChanged = errors.New("log folder changed since the plan")

// Reasons a file is selected for deletion.
const (
	ReasonAge    = "older than maximum age"
	ReasonBudget = "archives over total budget"
)

// Reasons a candidate is skipped.
const (
	SkipSymlink    = "symlink (not followed)"
	SkipNotRegular = "not a regular file"
	SkipBadName    = "unsafe name"
	SkipChanged    = "changed since plan (replaced, resized, touched or now a symlink)"
	SkipGone       = "already gone"
	SkipNoIdentity = "not planned by Plan on this host"
)

// File is one archived log.
type File struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	// Reason says why the file was selected (ReasonAge or ReasonBudget).
	Reason string `json:"reason,omitempty"`

	info safefs.Info // described at plan time, the identity Apply checks
}

// Skipped is a candidate that was left alone, and why.
type Skipped struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Result is a pruning plan and, after Apply, its outcome.
type Result struct {
	// Dir is the folder as given; Resolved is its real path.
	Dir      string    `json:"dir"`
	Resolved string    `json:"resolved"`
	PlanTime time.Time `json:"plan_time"`
	MaxAge   string    `json:"max_age"`
	MaxTotal int64     `json:"max_total_bytes"`
	DryRun   bool      `json:"dry_run"`
	// Archives and ArchiveBytes count the archived logs found by Plan.
	Archives     int   `json:"archives"`
	ArchiveBytes int64 `json:"archive_bytes"`
	// Planned are the archives selected for deletion, oldest first.
	Planned []File `json:"planned"`
	// Deleted are the archives actually removed and BytesFreed their sizes.
	Deleted    []File `json:"deleted"`
	BytesFreed int64  `json:"bytes_freed"`
	// Skipped lists candidates left alone, with the reason.
	Skipped []Skipped `json:"skipped,omitempty"`
	// Errors lists deletions that failed.
	Errors []string `json:"errors,omitempty"`
	// Applied is set once Apply ran; a plan is applied at most once.
	Applied bool `json:"applied"`

	dirInfo *safefs.Info
}

// PlannedBytes returns the total size of the planned deletions.
func (r *Result) PlannedBytes() int64 {
	var n int64
	for _, f := range r.Planned {
		n += f.Size
	}
	return n
}

// Plan lists the archived logs directly inside dir and selects those to
// delete: every archive modified more than maxAge before now, then the oldest
// remaining ones until the archives left total at most maxTotal bytes. A
// maxAge or maxTotal of zero or less disables that rule, so a zero budget
// never means "delete everything". Plan deletes nothing.
func Plan(dir string, maxAge time.Duration, maxTotal int64, now time.Time) (*Result, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("log folder %s: %w", dir, err)
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, fmt.Errorf("log folder: %w", err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: %w", abs, ErrSymlinkDir)
	}
	d, err := openFolder(abs)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	dirInfo := d.Info()
	r := &Result{Dir: dir, Resolved: d.Path(), PlanTime: now, MaxAge: maxAge.String(), MaxTotal: maxTotal,
		Planned: []File{}, Deleted: []File{}, dirInfo: &dirInfo}

	archives, err := r.scan(d)
	if err != nil {
		return nil, err
	}
	r.plan(archives, maxAge, maxTotal, now)
	return r, nil
}

// scan returns the folder's archives that are safe to consider, oldest
// first; the others are listed in r.Skipped.
func (r *Result) scan(d *safefs.Dir) ([]File, error) {
	entries, err := d.ReadDir()
	if err != nil {
		return nil, fmt.Errorf("read log folder %s: %w", r.Resolved, err)
	}
	var archives []File
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ArchiveSuffix) {
			continue // an active log or something else: never a candidate
		}
		if !safeName(name) {
			r.Skipped = append(r.Skipped, Skipped{Name: name, Reason: SkipBadName})
			continue
		}
		info, err := d.Stat(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if why := archiveSkip(info, err); why != "" {
			r.Skipped = append(r.Skipped, Skipped{Name: name, Reason: why})
			continue
		}
		archives = append(archives, File{Name: name, Size: info.Size, ModTime: info.ModTime, info: info})
	}
	slices.SortFunc(archives, func(a, b File) int {
		if c := a.ModTime.Compare(b.ModTime); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return archives, nil
}

// archiveSkip says why an archive is not a candidate: it could not be
// examined, or it is a symlink or not a regular file; "" if it is one.
func archiveSkip(info safefs.Info, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case info.Mode&os.ModeSymlink != 0:
		return SkipSymlink
	case !info.IsRegular():
		return SkipNotRegular
	}
	return ""
}

// plan marks, oldest first, the archives older than maxAge and then those
// over the maxTotal budget (0 disables either).
func (r *Result) plan(archives []File, maxAge time.Duration, maxTotal int64, now time.Time) {
	for _, a := range archives {
		r.ArchiveBytes += a.Size
	}
	r.Archives = len(archives)
	remaining := r.ArchiveBytes
	for _, a := range archives {
		switch {
		case maxAge > 0 && now.Sub(a.ModTime) > maxAge:
			a.Reason = ReasonAge
		case maxTotal > 0 && remaining > maxTotal:
			a.Reason = ReasonBudget
		default:
			continue
		}
		remaining -= a.Size
		r.Planned = append(r.Planned, a)
	}
}

// Prune plans and, unless dryRun, applies the plan (see Plan and Apply).
func Prune(ctx context.Context, dir string, maxAge time.Duration, maxTotal int64, now time.Time, dryRun bool, log *slog.Logger) (*Result, error) {
	r, err := Plan(dir, maxAge, maxTotal, now)
	if err != nil {
		return nil, err
	}
	if dryRun {
		r.DryRun = true
		return r, nil
	}
	return r, Apply(ctx, r, log)
}

// Apply deletes the planned files of r that are still exactly as planned,
// logging every deletion, and records the outcome in r. It returns an error
// when nothing could be attempted (folder changed, plan already applied,
// dry-run plan) or when some deletions failed; the details are in r.
func Apply(ctx context.Context, r *Result, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case r == nil:
		return errors.New("apply log prune: no plan")
	case r.Applied:
		return errors.New("apply log prune: plan already applied")
	case r.DryRun:
		return errors.New("apply log prune: plan is a dry run")
	case r.dirInfo == nil:
		return errors.New("apply log prune: plan was not made by Plan")
	}
	r.Applied = true
	if len(r.Planned) == 0 {
		return nil
	}
	d, err := openFolder(r.Resolved)
	if err != nil {
		return fmt.Errorf("apply log prune: %w", err)
	}
	defer d.Close()
	if !d.Info().Same(*r.dirInfo) || d.Path() != r.Resolved {
		return fmt.Errorf("apply log prune: %s: %w", r.Resolved, ErrDirChanged)
	}
	for i := range r.Planned {
		r.deleteOne(ctx, d, &r.Planned[i], log)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("apply log prune in %s: %d of %d deletions failed: %s", r.Resolved, len(r.Errors), len(r.Planned), r.Errors[0])
	}
	return nil
}

// deleteOne deletes one planned archive, recording in r whether it was
// deleted, skipped or failed.
func (r *Result) deleteOne(ctx context.Context, d *safefs.Dir, f *File, log *slog.Logger) {
	if err := ctx.Err(); err != nil {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: not attempted: %v", f.Name, err))
		return
	}
	if f.info.Name == "" || !safeName(f.Name) {
		r.Skipped = append(r.Skipped, Skipped{Name: f.Name, Reason: SkipNoIdentity})
		return
	}
	err := remove(d, f)
	var skip skipError
	switch {
	case errors.As(err, &skip):
		r.Skipped = append(r.Skipped, Skipped{Name: f.Name, Reason: string(skip)})
		log.Warn("archived log not deleted", "dir", r.Resolved, "name", f.Name, "reason", string(skip))
	case err != nil:
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", f.Name, err))
		log.Error("delete archived log failed", "dir", r.Resolved, "name", f.Name, "err", err)
	default:
		r.Deleted = append(r.Deleted, *f)
		r.BytesFreed += f.Size
		log.Info("deleted archived log", "dir", r.Resolved, "name", f.Name, "size", f.Size,
			"mtime", f.ModTime.Format(time.RFC3339), "reason", f.Reason)
	}
}

// skipError is a reason not to delete a planned file; it is not a failure.
type skipError string

func (e skipError) Error() string { return string(e) }

// safeName reports whether name is a plain file name inside the folder.
func safeName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) > len(ArchiveSuffix) &&
		!strings.ContainsAny(name, `/\`) && !strings.ContainsRune(name, 0) && filepath.Base(name) == name
}

// samePlanned reports whether cur, a fresh look at a planned file without
// following symlinks, is still that file: a regular file with the same
// identity, size, mtime and (on Unix) ctime.
func samePlanned(f *File, cur safefs.Info) bool {
	return cur.IsRegular() && cur.Same(f.info) && cur.Size == f.info.Size &&
		cur.ModTime.Equal(f.info.ModTime) && cur.CTime.Equal(f.info.CTime)
}

// openFolder opens the log folder with safefs; a symlink refused on the way
// is reported as ErrSymlinkDir.
func openFolder(p string) (*safefs.Dir, error) {
	d, err := safefs.OpenDir(p, safefs.DirOptions{Owner: -1})
	if err == nil {
		return d, nil
	}
	if r, ok := safefs.Refusal(err); ok && r == safefs.ReasonSymlink {
		return nil, fmt.Errorf("%v: %w", err, ErrSymlinkDir)
	}
	if r, ok := safefs.Refusal(err); ok && r == safefs.ReasonNotDir {
		return nil, fmt.Errorf("log folder %s: not a folder", p)
	}
	return nil, fmt.Errorf("log folder: %w", err)
}

// remove deletes f from d if it is still the planned regular file; it
// returns a skipError when it is not.
func remove(d *safefs.Dir, f *File) error {
	cur, err := d.Stat(f.Name)
	if errors.Is(err, os.ErrNotExist) {
		return skipError(SkipGone)
	}
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if !samePlanned(f, cur) {
		return skipError(SkipChanged)
	}
	if err := d.Remove(f.Name); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return skipError(SkipGone)
		}
		return fmt.Errorf("remove: %w", err)
	}
	return nil
}

// Printable returns name as it may be printed on a terminal: a name with
// control characters or invalid UTF-8 is quoted with Go escapes, so a file
// name cannot move the cursor or rewrite what was printed before.
func Printable(name string) string {
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return strconv.Quote(name)
		}
	}
	return name
}
