//go:build linux

package follow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// fileMask is watched on the followed file (and on a pending new file):
// data appended or the file truncated (IN_MODIFY), link count or mode
// changed, e.g. removed (IN_ATTRIB), renamed or freed, and opened by
// another process (IN_OPEN), which is how a copytruncate rotation starts.
const fileMask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_MOVE_SELF | unix.IN_DELETE_SELF | unix.IN_OPEN

// dirMask is watched on the folder, for a file appearing at the path.
const dirMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_ONLYDIR

// eagerFor is how long after the followed file is opened by another
// process every change is read at once, without the busy pause.
const eagerFor = 2 * time.Second

// notifyBufSize is the size of the buffer inotify events are read into; one
// read takes every queued event that fits.
const notifyBufSize = 16 << 10

// watcher wakes Run as soon as the followed file changes, through an
// inotify instance read by a goroutine of its own.
//
// Wakeups are coalesced so that a busy log costs at most one read step per
// busy interval, however many writes it gets. The goroutine reads all queued events with one read and signals a channel
// with room for one value; Run then reads the file once. After a wakeup the
// goroutine pauses for the busy interval without reading events: the kernel
// merges a write's IN_MODIFY into an identical event still queued, without
// waking anyone, so any number of writes costs nothing until the pause
// ends, when one read step picks them all up. The first change after a
// quiet period is read at once.
//
// A copytruncate rotation must open the file to copy it, and its IN_OPEN is
// not merged: the kernel wakes the pausing goroutine a second time, which
// ends the pause so that the file is read at once. For eagerFor after that
// the goroutine signals every change without pausing, so that the data
// appended up to the truncation is read before it.
type watcher struct {
	ino   *os.File // the inotify descriptor, in non-blocking mode so that Close interrupts a read
	dirWd int32    // watch on the folder, or -1
	base  string   // file name of the path within the folder
	busy  time.Duration

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	// files maps each watched file to its watch descriptor. Only the
	// goroutine running Run uses it.
	files map[*os.File]int32
}

// newWatcher starts watching file and the folder of path; busy is the
// pause after a wakeup (the poll interval). It returns nil, and Run then
// only polls, when inotify is not available, for example when the limit on
// inotify instances or watches is reached.
func newWatcher(path string, file *os.File, busy time.Duration) *watcher {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil
	}
	w := &watcher{
		ino:   os.NewFile(uintptr(fd), "inotify"),
		dirWd: -1,
		base:  filepath.Base(path),
		busy:  busy,
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		files: make(map[*os.File]int32, 2),
	}
	if !w.add(file) {
		_ = w.ino.Close()
		return nil
	}
	// Without the folder watch, a new file at the path is still found by
	// polling.
	if wd, err := w.addWatch(filepath.Dir(path), dirMask); err == nil {
		w.dirWd = int32(wd)
	}
	go w.loop()
	return w
}

// events returns the channel that receives a value when the followed file
// may have changed. It is nil, and never ready, for a nil watcher.
func (w *watcher) events() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.wake
}

// track makes the watched files exactly cur and next (either may be nil),
// adding and removing watches as rotation replaces them. A file that
// cannot be watched is left to polling.
func (w *watcher) track(cur, next *os.File) {
	if w == nil {
		return
	}
	for f, wd := range w.files {
		if f != cur && f != next {
			delete(w.files, f)
			w.remove(wd)
		}
	}
	for _, f := range []*os.File{cur, next} {
		if f != nil {
			if _, ok := w.files[f]; !ok {
				w.add(f)
			}
		}
	}
}

// add watches the file open as f. The watch is added through
// /proc/self/fd, so it is on the open file even if the path names
// another file by now, or none.
func (w *watcher) add(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	wd := -1
	cerr := rc.Control(func(fd uintptr) {
		wd, err = w.addWatch("/proc/self/fd/"+strconv.FormatUint(uint64(fd), 10), fileMask)
	})
	if cerr != nil || err != nil {
		return false
	}
	w.files[f] = int32(wd)
	return true
}

func (w *watcher) addWatch(name string, mask uint32) (int, error) {
	rc, err := w.ino.SyscallConn()
	if err != nil {
		return -1, err
	}
	wd := -1
	cerr := rc.Control(func(fd uintptr) {
		wd, err = unix.InotifyAddWatch(int(fd), name, mask)
	})
	if cerr != nil {
		return -1, cerr
	}
	return wd, err
}

func (w *watcher) remove(wd int32) {
	rc, err := w.ino.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		// Fails harmlessly when the kernel already dropped the
		// watch (file freed).
		_, _ = unix.InotifyRmWatch(int(fd), uint32(wd))
	})
}

// close stops the goroutine and releases the inotify instance.
func (w *watcher) close() {
	if w == nil {
		return
	}
	close(w.stop)
	_ = w.ino.Close() // interrupts a pending read or pause
	<-w.done
}

// loop reads events until close, signalling w.wake for relevant ones.
func (w *watcher) loop() {
	defer close(w.done)
	buf := make([]byte, notifyBufSize)
	var eagerUntil time.Time
	for {
		n, err := w.ino.Read(buf) // waits for an event
		if err != nil {
			// Closed, or an unexpected failure: polling goes on.
			return
		}
		relevant, opened := w.parse(buf[:n])
		if opened {
			eagerUntil = time.Now().Add(eagerFor)
		}
		if relevant {
			select {
			case w.wake <- struct{}{}:
			default: // a wakeup is already pending
			}
		}
		if !relevant || time.Now().Before(eagerUntil) {
			continue
		}
		if !w.pause() {
			return
		}
	}
}

// pause waits, without reading events, until the busy interval has passed
// or the kernel has woken the descriptor twice: once for the first change
// after the last read, whose IN_MODIFY later writes merge into, and again
// for an event that could not be merged, such as IN_OPEN. It reports false
// once the watcher is closed.
func (w *watcher) pause() bool {
	select {
	case <-w.stop:
		return false
	default:
	}
	rc, err := w.ino.SyscallConn()
	if err != nil {
		return false
	}
	if err := w.ino.SetReadDeadline(time.Now().Add(w.busy)); err != nil {
		// No deadline support: read events as they come.
		return true
	}
	calls := 0
	err = rc.Read(func(uintptr) bool {
		calls++
		return calls > 2
	})
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	return w.ino.SetReadDeadline(time.Time{}) == nil
}

// parse reports whether the events in p concern the followed file (any
// event on a watched file, a queue overflow, or a file created or moved in
// at the path), and whether one is the file being opened.
func (w *watcher) parse(p []byte) (relevant, opened bool) {
	for len(p) >= unix.SizeofInotifyEvent {
		// struct inotify_event: wd, mask, cookie, len, then the
		// NUL-padded name, all in host byte order.
		wd := int32(binary.NativeEndian.Uint32(p[0:4]))
		mask := binary.NativeEndian.Uint32(p[4:8])
		nameLen := int(binary.NativeEndian.Uint32(p[12:16]))
		end := unix.SizeofInotifyEvent + nameLen
		if end > len(p) {
			return true, opened // malformed; err on the side of reading
		}
		name := p[unix.SizeofInotifyEvent:end]
		p = p[end:]
		switch {
		case mask&unix.IN_Q_OVERFLOW != 0:
			relevant = true
		case mask&unix.IN_IGNORED != 0:
			// A watch went away; the file it was on is handled by
			// polling or a later event.
		case wd == w.dirWd:
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if mask&unix.IN_ISDIR == 0 && string(name) == w.base {
				relevant = true
			}
		default:
			relevant = true
			opened = opened || mask&unix.IN_OPEN != 0
		}
	}
	return relevant, opened
}
