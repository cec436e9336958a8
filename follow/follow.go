// Package follow follows a growing log file, such as PortSIP's
// callmanager.log, for a time window and copies every byte appended to it,
// through log rotation by rename (logrotate "create", or a writer that
// renames its own log when it rolls over) and by truncation (logrotate "copytruncate"), without duplicating a byte
// and, for rotation by rename, without losing one.
//
// Today `pbxagent bundle --duration 30s` uses it to capture the lines written
// while a problem is reproduced; the long-running agent service uses it too,
// calling Run repeatedly on the same Follower to continue where the previous
// window stopped.
//
// A Follower records the file size at Open as its start offset. Bytes before
// it are "history" (see History); bytes after it are copied by Run. All reads
// use ReadAt with offsets tracked by the Follower, never the shared file
// offset, so History and Run may be used concurrently. Data is copied in a
// fixed 64 KiB buffer, so memory use does not grow with the log.
//
// # Rotation by rename
//
// At every read step (every poll, and on change notification) Run compares
// the identity of the open file with the file at the path (device and
// inode, looked up through the folder's handle without following a
// symlink; see internal/safefs).
// When the path names a different file, Run keeps reading the old file
// until the writer has started on the new one (the new file is non-empty)
// or the window ends, drains the old file to EOF and then reads the new
// file from offset 0. A path that is missing during rotation
// (renamed, new file not yet created) is waited for, not an error. If the
// file at the path is replaced more than once between two read steps, the
// files in between are never seen; a short poll keeps that unlikely.
//
// # Rotation by truncation
//
// Truncation is detected when the file is smaller than the read offset, or
// when the last bytes read before the offset have changed (the file was
// truncated and has grown back past the offset between two reads). Reading
// then continues from offset 0 of the same file. Stats.Truncations reports
// that it happened. With copytruncate, bytes appended after Run's last read
// and before the truncation are in the rotated copy only and cannot be
// recovered from the followed file, so Run reads as soon as the file
// changes (see below) to keep that window close to empty.
//
// # Change notification
//
// On Linux, Run watches the followed file with inotify (and its folder, for
// a new file at the path) and reads as soon as it changes; the poll every
// Options.Poll remains as a fallback, and is the only mechanism on other
// systems, with Options.NoWatch, or when inotify is unavailable (for example
// when the limit on inotify instances or watches is reached; Run then polls
// without reporting an error). Stats.Watched reports which applied.
//
// Notification is rate-limited so that a busy log costs little more than
// polling: the first change after a quiet period is read at once, and while
// writes continue the file is read at most once every 5ms, each read taking
// everything written since the previous one. A copytruncate rotation opens
// the file to copy it; when another process opens the followed file, Run
// reads it at once and then reads every change at once for the next 2
// seconds, so the bytes appended while a log is copied are read before it
// is truncated. What can still be missed is what was appended in the last
// few milliseconds before a truncation that follows the open more quickly
// than Run can read (the copy of a small file), at most 5ms of writes, and,
// for a truncation between two Run calls, what was appended after the
// previous Run returned. A writer that opened the log for every write
// would keep Run reading at every change, at one read per write.
package follow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/internal/safefs"
)

// DefaultPoll is the poll interval used when Options.Poll is zero.
const DefaultPoll = 100 * time.Millisecond

// busyWake is the shortest time between two reads started by change
// notification while the log is written to continuously (Options.Poll if
// that is shorter); see the package documentation.
const busyWake = 5 * time.Millisecond

// bufSize is the size of the copy buffer Run allocates.
const bufSize = 64 << 10

// tailSize is how many of the most recently read bytes are kept to detect a
// truncation that was followed by regrowth past the read offset.
const tailSize = 64

// ErrClosed is returned by Run when the Follower has been closed.
var ErrClosed = errors.New("follow: follower closed")

// ErrBusy is returned by Run when another Run call on the same Follower is
// in progress.
var ErrBusy = errors.New("follow: Run already in progress")

// Options configures a Follower.
type Options struct {
	// Poll is how often Run checks for new data and for rotation.
	// Zero means DefaultPoll (100ms).
	Poll time.Duration
	// MaxBytes caps the bytes one Run call writes; 0 means unlimited.
	// Past the cap, further bytes are still read (so offsets stay correct)
	// but are counted in Stats.Dropped instead of being written.
	MaxBytes int64
	// NoWatch disables change notification (inotify on Linux): Run then
	// only polls. Notification makes Run read data as soon as it is
	// written, which matters for rotation by truncation; see the package
	// documentation.
	NoWatch bool
}

// Stats reports what one Run call did.
type Stats struct {
	// Bytes is the number of bytes written to the writer.
	Bytes int64
	// Dropped is the number of bytes read but not written because
	// Options.MaxBytes was reached.
	Dropped int64
	// Renames counts switches to a new file at the path (rotation by
	// rename, or removal and re-creation).
	Renames int
	// Truncations counts truncations of the followed file detected.
	Truncations int
	// Offset is the read offset in the current file when Run returned.
	Offset int64
	// Watched reports that change notification was active: Run read as
	// soon as the file changed, and polled only as a fallback.
	Watched bool
}

// Follower follows one log file. Create it with Open and release it with
// Close. History may be called at any time, including concurrently with Run;
// Run calls must not overlap.
type Follower struct {
	path     string
	dir      *safefs.Dir // the log folder; entries are opened relative to it
	name     string      // the followed file's name in dir
	ownDir   bool        // dir was opened by Open and is closed by Close
	poll     time.Duration
	maxBytes int64
	noWatch  bool

	orig  *os.File // the file as opened; kept open for History
	start int64

	quit      chan struct{} // closed by Close to stop Run
	closeOnce sync.Once
	closeErr  error

	// runMu is held for the whole of Run and by Close; it guards the
	// read state below, which persists between Run calls.
	runMu    sync.Mutex
	cur      *os.File    // file being read (orig until the first rotation)
	curInfo  safefs.Info // identity of cur
	off      int64       // next offset to read in cur
	tail     [tailSize]byte
	tailLen  int
	next     *os.File    // new file seen at the path, not yet switched to
	nextInfo safefs.Info // identity of next
	// refused is set when the path became something that must not be
	// read (symlink, FIFO, device): following ends with it.
	refused error
	links   uint64 // largest link count of a file read
}

// Open opens the file at path and records its current size as the start
// offset. The file must exist and be a regular file; its folder is opened
// with safefs (see OpenIn).
func Open(path string, opt Options) (*Follower, error) {
	dir, err := safefs.OpenDir(filepath.Dir(path), safefs.DirOptions{Owner: -1})
	if err != nil {
		return nil, fmt.Errorf("follow: %w", err)
	}
	f, err := OpenIn(dir, filepath.Base(path), opt)
	if err != nil {
		dir.Close()
		return nil, err
	}
	f.ownDir = true
	return f, nil
}

// OpenIn opens the file name in dir, as Open does. Every open, including
// the re-open after a rotation, goes through dir: no symlink is followed,
// a FIFO or device is never read, and the file must be a regular file.
// A symlink, FIFO or device found at the name after a rotation ends
// following: Run returns an error for which safefs.Refusal reports the
// reason. dir must stay open until Close.
func OpenIn(dir *safefs.Dir, name string, opt Options) (*Follower, error) {
	path := dir.Join(name)
	if opt.Poll < 0 {
		return nil, fmt.Errorf("follow %s: negative poll interval %v", path, opt.Poll)
	}
	if opt.MaxBytes < 0 {
		return nil, fmt.Errorf("follow %s: negative byte cap %d", path, opt.MaxBytes)
	}
	if opt.Poll == 0 {
		opt.Poll = DefaultPoll
	}
	sf, err := dir.Open(name)
	if err != nil {
		return nil, fmt.Errorf("follow: %w", err)
	}
	file, info := sf.File, sf.Info()
	f := &Follower{
		path:     path,
		dir:      dir,
		name:     name,
		poll:     opt.Poll,
		maxBytes: opt.MaxBytes,
		noWatch:  opt.NoWatch,
		orig:     file,
		start:    info.Size,
		quit:     make(chan struct{}),
		cur:      file,
		curInfo:  info,
		off:      info.Size,
	}
	if err := f.loadTail(); err != nil {
		_ = file.Close()
		return nil, err
	}
	return f, nil
}

// Links is the largest hard-link count seen on a followed file; more than
// one is worth recording (see safefs.Info.Links).
func (f *Follower) Links() uint64 {
	f.runMu.Lock()
	defer f.runMu.Unlock()
	return max(f.curInfo.Links, f.nextInfo.Links, f.links)
}

// Path returns the path being followed.
func (f *Follower) Path() string { return f.path }

// StartOffset is the file size at Open: bytes before it are history, bytes
// after it are copied by Run.
func (f *Follower) StartOffset() int64 { return f.start }

// History returns a reader over the last maxBytes bytes before StartOffset,
// that is [max(0, StartOffset-maxBytes), StartOffset), of the file as
// opened, even if it has been renamed since. length is the number of bytes
// the reader covers and skipped the number of leading bytes left out.
// A negative maxBytes is treated as 0.
//
// The reader uses ReadAt with explicit offsets, so it is safe to use
// concurrently with Run. It fails once the Follower is closed, and returns
// fewer bytes if the file was truncated in the meantime.
func (f *Follower) History(maxBytes int64) (r io.Reader, length int64, skipped int64) {
	maxBytes = max(maxBytes, 0)
	from := max(f.start-maxBytes, 0)
	length = f.start - from
	return io.NewSectionReader(f.orig, from, length), length, from
}

// Run copies every byte appended to the file after the current read offset
// (StartOffset on the first call, where the previous call stopped
// afterwards) to w, until ctx is done or the Follower is closed. It then does
// a final drain, reading to EOF the current file and the new file at the
// path if a rotation is pending, and returns. Stopping because ctx is done
// or because of Close is not an error.
//
// Run follows rotation by rename and by truncation as described in the
// package documentation. It returns an error when reading the followed file
// or writing to w fails; Stats then reports what was copied so far.
func (f *Follower) Run(ctx context.Context, w io.Writer) (Stats, error) {
	if f.isClosed() {
		return Stats{}, ErrClosed
	}
	if !f.runMu.TryLock() {
		return Stats{}, ErrBusy
	}
	defer f.runMu.Unlock()
	if f.isClosed() {
		return Stats{}, ErrClosed
	}

	r := &runner{f: f, w: w, buf: make([]byte, bufSize)}
	var watch *watcher
	if !f.noWatch {
		watch = newWatcher(f.path, f.cur, min(f.poll, busyWake))
		defer watch.close()
	}
	r.stats.Watched = watch != nil
	ticker := time.NewTicker(f.poll)
	defer ticker.Stop()
	final := false
	for {
		err := r.step(final)
		r.stats.Offset = f.off
		if err != nil || final {
			return r.stats, err
		}
		watch.track(f.cur, f.next)
		select {
		case <-ctx.Done():
			final = true
		case <-f.quit:
			final = true
		case <-ticker.C:
		case <-watch.events():
			// The poll is a fallback: count its interval from
			// this read.
			ticker.Reset(f.poll)
		}
	}
}

// Close stops a Run in progress (which does its final drain and returns)
// and releases the files. Readers returned by History fail afterwards.
// Calling Close more than once returns the first result.
func (f *Follower) Close() error {
	f.closeOnce.Do(func() {
		close(f.quit)
		f.runMu.Lock()
		defer f.runMu.Unlock()
		var errs []error
		if f.next != nil {
			errs = append(errs, f.next.Close())
			f.next = nil
		}
		if f.cur != f.orig {
			errs = append(errs, f.cur.Close())
		}
		f.cur = nil
		if err := f.orig.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", f.path, err))
		}
		if f.ownDir {
			errs = append(errs, f.dir.Close())
		}
		f.closeErr = errors.Join(errs...)
	})
	return f.closeErr
}

func (f *Follower) isClosed() bool {
	select {
	case <-f.quit:
		return true
	default:
		return false
	}
}

// loadTail reads the bytes just before the read offset into f.tail.
func (f *Follower) loadTail() error {
	n := int(min(f.off, tailSize))
	f.tailLen = 0
	if n == 0 {
		return nil
	}
	got, err := f.cur.ReadAt(f.tail[:n], f.off-int64(n))
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", f.path, err)
	}
	// A short read means the file shrank under us; the next truncation
	// check catches that through the size.
	if got == n {
		f.tailLen = n
	}
	return nil
}

// pushTail records p, just read, as the bytes ending at the read offset.
func (f *Follower) pushTail(p []byte) {
	if len(p) >= tailSize {
		copy(f.tail[:], p[len(p)-tailSize:])
		f.tailLen = tailSize
		return
	}
	keep := min(f.tailLen, tailSize-len(p))
	copy(f.tail[:], f.tail[f.tailLen-keep:f.tailLen])
	copy(f.tail[keep:], p)
	f.tailLen = keep + len(p)
}

// runner holds the state of one Run call.
type runner struct {
	f     *Follower
	w     io.Writer
	buf   []byte
	stats Stats
}

// step reads everything available now, switching files as rotation
// requires. With final set, a pending new file is switched to even if the
// writer has not written to it yet.
func (r *runner) step(final bool) error {
	f := r.f
	for {
		if err := r.checkTruncation(); err != nil {
			return err
		}
		if err := r.drain(); err != nil {
			return err
		}
		f.probe()
		if f.next == nil {
			return f.refused
		}
		if !final {
			info, err := f.next.Stat()
			if err != nil {
				return fmt.Errorf("stat %s: %w", f.path, err)
			}
			if info.Size() == 0 && f.refused == nil {
				// The writer may still be appending to the old
				// file; keep reading it until the new one is used.
				return nil
			}
		}
		// The writer has moved to the new file, so the old one is
		// complete: drain it to EOF, then switch.
		if err := r.drain(); err != nil {
			return err
		}
		if f.cur != f.orig {
			_ = f.cur.Close()
		}
		f.links = max(f.links, f.curInfo.Links)
		f.cur, f.curInfo = f.next, f.nextInfo
		f.next, f.nextInfo = nil, safefs.Info{}
		f.off, f.tailLen = 0, 0
		r.stats.Renames++
	}
}

// checkTruncation resets the read offset to 0 when the current file has
// been truncated: it is smaller than the offset, or the bytes before the
// offset are no longer the ones read there.
func (r *runner) checkTruncation() error {
	f := r.f
	if f.off == 0 {
		return nil
	}
	info, err := f.cur.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", f.path, err)
	}
	truncated := info.Size() < f.off
	if !truncated && f.tailLen > 0 {
		var got [tailSize]byte
		n, err := f.cur.ReadAt(got[:f.tailLen], f.off-int64(f.tailLen))
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", f.path, err)
		}
		truncated = n < f.tailLen || !bytes.Equal(got[:n], f.tail[:f.tailLen])
	}
	if truncated {
		f.off, f.tailLen = 0, 0
		r.stats.Truncations++
	}
	return nil
}

// drain copies the current file from the read offset to EOF.
func (r *runner) drain() error {
	f := r.f
	for {
		n, err := f.cur.ReadAt(r.buf, f.off)
		if n > 0 {
			p := r.buf[:n]
			f.off += int64(n)
			f.pushTail(p)
			if werr := r.deliver(p); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", f.path, err)
		}
	}
}

// deliver writes p to the writer, honouring the byte cap.
func (r *runner) deliver(p []byte) error {
	if limit := r.f.maxBytes; limit > 0 {
		room := limit - r.stats.Bytes
		if room <= 0 {
			r.stats.Dropped += int64(len(p))
			return nil
		}
		if int64(len(p)) > room {
			r.stats.Dropped += int64(len(p)) - room
			p = p[:room]
		}
	}
	n, err := r.w.Write(p)
	r.stats.Bytes += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("write followed data of %s: %w", r.f.path, err)
	}
	return nil
}

// probe looks at the file now at the path, through the folder handle and
// without following a symlink. If it is neither the current file nor an
// already pending one, it is opened and becomes the pending next file. A
// missing path (mid-rotation) is left for a later poll. A pending file that
// is still empty when the path moves on again is replaced, since the writer
// never used it. A symlink, FIFO or device at the path sets f.refused: the
// current file is drained and following ends.
func (f *Follower) probe() {
	if f.refused != nil {
		return
	}
	info, err := f.dir.Stat(f.name)
	if err != nil || info.Same(f.curInfo) {
		if _, ok := safefs.Refusal(err); ok {
			f.refused = err
		}
		return
	}
	if !info.IsRegular() {
		f.refused = &safefs.RefusedError{Path: f.path, Reason: safefs.TypeReason(info.Mode),
			Detail: "found in place of the followed log; following stopped"}
		return
	}
	if f.next != nil {
		if info.Same(f.nextInfo) {
			return
		}
		ninfo, err := f.next.Stat()
		if err != nil || ninfo.Size() > 0 {
			// Switch to the pending file first; the newer one is
			// picked up on the next probe.
			return
		}
		_ = f.next.Close()
		f.next, f.nextInfo = nil, safefs.Info{}
	}
	sf, err := f.dir.Open(f.name)
	if _, ok := safefs.Refusal(err); ok {
		f.refused = err
		return
	}
	if err != nil {
		return
	}
	if sf.Info().Same(f.curInfo) {
		_ = sf.Close()
		return
	}
	f.next, f.nextInfo = sf.File, sf.Info()
}
