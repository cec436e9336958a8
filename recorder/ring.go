// Package recorder keeps a bounded flight recorder of recent packets: the
// pcapng stream of a long-running capture (or the HEP feed) is cut into
// gzip-compressed segments (seg-<start>.pcapng.gz, which Wireshark and
// tshark open directly; see gzseg.go for why and how) in a folder of its
// own, each finished segment closed, fsynced and
// indexed (time range, packet count, SIP Call-IDs), the oldest deleted first
// so that the ring stays under a byte cap, a maximum age and a share of the
// free disk space. A segment cut off by a crash is repaired to its readable
// prefix when the ring is opened again. [Extract] reads the packets of a
// time window back out of the finished segments for a bundle.
package recorder

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Defaults of [Options].
const (
	DefaultSegmentDuration = 5 * time.Minute
	DefaultSegmentBytes    = 64 << 20
	DefaultMaxBytes        = 1 << 30
	DefaultMaxAge          = 24 * time.Hour
)

// minSegmentBytes is the smallest segment size the ring accepts.
const minSegmentBytes = 64 << 10

// Options configures a [Ring].
type Options struct {
	// Dir is the ring's own folder (created with mode 0700). Nothing else
	// may live there: the ring only deletes files it can prove it wrote,
	// but it lists the folder.
	Dir string
	// SegmentDuration and SegmentBytes end a segment, whichever comes first.
	SegmentDuration time.Duration
	SegmentBytes    int64
	// MaxBytes caps the ring's total size on disk.
	MaxBytes int64
	// MaxAge deletes segments whose newest packet is older.
	MaxAge time.Duration
	// Headroom, if set, returns how many bytes the ring may hold on its
	// filesystem given what it holds now (see [DiskHeadroom]), and why;
	// the ring rolls within that limit, and stops writing, saying why,
	// when it leaves room for less than two segments.
	Headroom func(ring int64) (int64, string, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives deletions, repairs and pauses.
	Log *slog.Logger
}

// Stats are the ring's counters.
type Stats struct {
	// Segments, Bytes, Packets and HEP count what is on disk now, the
	// open segment included.
	Segments int   `json:"segments"`
	Bytes    int64 `json:"bytes"`
	Packets  int64 `json:"packets"`
	HEP      int64 `json:"hep"`
	// First and Last bound the packets on disk.
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
	// Dropped counts packets not written because the ring was paused.
	Dropped int64 `json:"dropped"`
	// Deleted counts segments deleted by the limits since start.
	Deleted int64 `json:"deleted"`
	// Cap is the byte limit in force (MaxBytes, or less when the disk
	// leaves less room).
	Cap int64 `json:"cap"`
	// Paused says why the ring is not writing; empty while it writes.
	Paused string `json:"paused,omitempty"`
	// Limited says why Cap is below the configured byte cap.
	Limited string `json:"limited,omitempty"`
	// Repaired and Discarded count segments repaired or dropped at open.
	Repaired  int `json:"repaired,omitempty"`
	Discarded int `json:"discarded,omitempty"`
}

// Ring is the segment ring. It is an io.Writer for one pcapng stream at a
// time (a new section header starts a new segment); Write, Seal, Tick and
// Stats may be called from different goroutines.
type Ring struct {
	opt Options
	log *slog.Logger

	mu       sync.Mutex
	done     []*Index // finished segments, oldest first
	doneSize int64    // bytes of the finished segments
	cur      *openSeg
	sec      section
	inSec    bool   // a section header has been seen in the stream
	pending  []byte // partial block carried to the next Write
	stats    Stats
	capBytes int64
	capWhy   string
	sinceChk int64 // bytes written since the last headroom check
	closed   bool
	flushed  time.Time     // when the writer last said it flushed
	flushCh  chan struct{} // closed and replaced at each flush
	gz       gzipWriters   // compressors reused across segments
}

// openSeg is the segment being written.
type openSeg struct {
	w     *segWriter // blocks wait here until the capture flushes
	path  string
	start time.Time
	raw   int64 // bytes of pcapng blocks written (before compression)
	idx   Index
	ids   callIDs
}

// Open opens (creating it if needed) the ring folder, repairs a segment cut
// off by a crash, indexes finished segments that have no index and applies
// the limits.
func Open(opt Options) (*Ring, error) {
	if opt.Dir == "" {
		return nil, errors.New("recorder: no folder")
	}
	if opt.SegmentDuration <= 0 {
		opt.SegmentDuration = DefaultSegmentDuration
	}
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = DefaultSegmentBytes
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.MaxAge <= 0 {
		opt.MaxAge = DefaultMaxAge
	}
	// At least four segments fit under the cap, so deleting the oldest
	// frees room long before the cap is reached.
	opt.SegmentBytes = max(min(opt.SegmentBytes, opt.MaxBytes/4), minSegmentBytes)
	if opt.MaxBytes < 2*opt.SegmentBytes {
		return nil, fmt.Errorf("recorder: byte cap %d too small (at least %d)", opt.MaxBytes, 2*opt.SegmentBytes)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("recorder: create %s: %w", opt.Dir, err)
	}
	fi, err := os.Lstat(opt.Dir)
	if err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("recorder: %s is not a folder", opt.Dir)
	}
	if err := os.Chmod(opt.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("recorder: set mode of %s: %w", opt.Dir, err)
	}
	r := &Ring{opt: opt, log: opt.Log, capBytes: opt.MaxBytes, flushCh: make(chan struct{})}
	segs, rep, disc, err := repairAll(opt.Dir, opt.Log)
	if err != nil {
		return nil, err
	}
	r.done = segs
	for _, x := range segs {
		r.doneSize += x.Bytes
	}
	r.stats.Repaired, r.stats.Discarded = rep, disc
	r.mu.Lock()
	r.checkHeadroom()
	r.enforce(0, true)
	r.mu.Unlock()
	return r, nil
}

// Dir returns the ring folder.
func (r *Ring) Dir() string { return r.opt.Dir }

// Stats returns the current counters.
func (r *Ring) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Segments, s.Bytes, s.Packets, s.HEP = 0, 0, 0, 0
	s.First, s.Last = time.Time{}, time.Time{}
	add := func(x *Index) {
		s.Segments++
		s.Bytes += x.Bytes
		s.Packets += x.Packets
		s.HEP += x.HEP
		if x.Packets > 0 {
			if s.First.IsZero() || x.First.Before(s.First) {
				s.First = x.First
			}
			if x.Last.After(s.Last) {
				s.Last = x.Last
			}
		}
	}
	for _, x := range r.done {
		add(x)
	}
	if r.cur != nil {
		add(&r.cur.idx)
	}
	s.Cap = r.capBytes
	if r.capBytes < r.opt.MaxBytes {
		s.Limited = r.capWhy
	}
	return s
}

// Segments returns the indexes of the finished segments, oldest first.
func (r *Ring) Segments() []Index {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Index, len(r.done))
	for i, x := range r.done {
		out[i] = *x
	}
	return out
}

// Seal finishes the open segment, if it holds packets, so that every packet
// written so far is in a finished segment.
func (r *Ring) Seal() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil || r.cur.idx.Packets == 0 {
		return nil
	}
	return r.finish()
}

// Flushed tells the ring that the writer has just handed over everything
// it had buffered (the capture calls it after each flush), so [Ring.SealAfter]
// can wait for packets captured before a request.
func (r *Ring) Flushed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushed = r.opt.Now()
	if err := r.flushCur(); err != nil {
		r.log.Warn("recorder", "err", err)
	}
	close(r.flushCh)
	r.flushCh = make(chan struct{})
}

// SealAfter waits (at most wait) until the writer has flushed after t, then
// seals the open segment: the finished segments then hold every packet
// captured before t. Without a flush in time it seals what it has.
func (r *Ring) SealAfter(t time.Time, wait time.Duration) error {
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		r.mu.Lock()
		done, ch := r.flushed.After(t), r.flushCh
		r.mu.Unlock()
		if done {
			break
		}
		select {
		case <-ch:
			continue
		case <-timeout.C:
		}
		break
	}
	return r.Seal()
}

// Tick ends the open segment when it has reached its duration and deletes
// segments past the maximum age; call it every few seconds.
func (r *Ring) Tick() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opt.Now()
	if r.cur != nil && r.cur.idx.Packets > 0 && now.Sub(r.cur.start) >= r.opt.SegmentDuration {
		if err := r.finish(); err != nil {
			return err
		}
	}
	r.checkHeadroom()
	r.enforce(0, true)
	return nil
}

// Close finishes the open segment.
func (r *Ring) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.cur == nil {
		return nil
	}
	if r.cur.idx.Packets == 0 {
		r.discardCur()
		return nil
	}
	return r.finish()
}

// discardCur removes an open segment without packets.
func (r *Ring) discardCur() {
	c := r.cur
	r.cur = nil
	c.w.close()
	if err := os.Remove(c.path); err != nil {
		r.log.Warn("recorder: empty segment not removed", "file", c.path, "err", err)
	}
}

// finish closes, fsyncs and indexes the open segment.
func (r *Ring) finish() error {
	c := r.cur
	r.cur = nil
	err := c.w.flush()
	if err == nil {
		err = c.w.f.Sync()
	}
	c.idx.Bytes = c.w.size()
	if cerr := c.w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("recorder: finish segment %s: %w", c.path, err)
	}
	c.idx.CallIDs, c.idx.CallIDsTruncated = c.ids.list, c.ids.truncated
	c.idx.Stream = c.raw
	final := filepath.Join(r.opt.Dir, c.idx.File)
	if err := writeIndex(r.opt.Dir, &c.idx); err != nil {
		return fmt.Errorf("recorder: index segment %s: %w", c.path, err)
	}
	if err := os.Rename(c.path, final); err != nil {
		return fmt.Errorf("recorder: finish segment %s: %w", c.path, err)
	}
	syncDir(r.opt.Dir)
	x := c.idx
	r.done = append(r.done, &x)
	r.doneSize += x.Bytes
	return nil
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// size is the ring's size on disk, the open segment included.
func (r *Ring) size() int64 {
	n := r.doneSize
	if r.cur != nil {
		n += r.cur.idx.Bytes
	}
	return n
}

// enforce deletes the oldest finished segments until the ring plus need
// more bytes fits under the cap and, when ages is set, those past the
// maximum age. It reports whether need bytes fit. The per-packet call
// leaves ages to the next Tick: it reads neither the clock nor the list of
// segments while the packet fits.
func (r *Ring) enforce(need int64, ages bool) bool {
	total := need + r.size()
	if total <= r.capBytes && !ages {
		return true
	}
	now := r.opt.Now()
	for len(r.done) > 0 {
		x := r.done[0]
		old := ages && now.Sub(x.Last) > r.opt.MaxAge
		if total <= r.capBytes && !old {
			break
		}
		if err := r.remove(x); err != nil {
			r.log.Warn("recorder: segment not deleted", "file", x.File, "err", err)
			break
		}
		r.done = r.done[1:]
		r.doneSize -= x.Bytes
		total -= x.Bytes
		r.stats.Deleted++
	}
	return total <= r.capBytes
}

// remove deletes a finished segment and its index after checking that the
// index was written by the recorder and names this file with its size.
func (r *Ring) remove(x *Index) error {
	seg := filepath.Join(r.opt.Dir, x.File)
	ix, err := readIndex(indexPath(r.opt.Dir, x.File))
	if err != nil {
		return err
	}
	fi, err := os.Lstat(seg)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err == nil && (!fi.Mode().IsRegular() || ix.File != x.File || fi.Size() != ix.Bytes) {
		return fmt.Errorf("%s does not match its index; left alone", seg)
	}
	if err == nil {
		if err := os.Remove(seg); err != nil {
			return err
		}
	}
	if err := os.Remove(indexPath(r.opt.Dir, x.File)); err != nil {
		return err
	}
	r.log.Debug("recorder: segment deleted", "file", x.File, "bytes", x.Bytes)
	return nil
}

// sortIndexes orders segments by start.
func sortIndexes(xs []*Index) {
	sort.Slice(xs, func(i, j int) bool { return xs[i].File < xs[j].File })
}
