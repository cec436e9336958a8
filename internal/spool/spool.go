// Package spool is the durable queue every alert receiver delivers
// through (mail, Alertmanager, webhook): one file per item in the
// receiver's own folder (0700; files 0600, written atomically), delivered
// oldest first, removed only once the receiver accepted it, and retried
// with backoff while the receiver fails. It survives restarts, so an outage
// neither loses nor repeats an item.
package spool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/internal/atomicfile"
)

// ErrPermanent marks a refusal that retrying cannot fix: the item stays
// queued (until the bound pushes it out) and the next ones are tried.
var ErrPermanent = errors.New("refused permanently")

// MaxItem bounds one queued file read back.
const MaxItem = 8 << 20

// Spool is one receiver's queue. Its methods are safe for concurrent use.
type Spool struct {
	dir, ext string
	max      int
	log      *slog.Logger
	now      func() time.Time
	// Backoff bounds: the first delay after a failure doubles up to the
	// longest, with ±20% jitter.
	first, longest time.Duration

	mu     sync.Mutex // the folder's listing and removals
	sendMu sync.Mutex // one delivery pass at a time
	kick   chan struct{}
}

// New returns the spool of the files named *ext in dir (created 0700),
// keeping at most max items: beyond that the oldest are dropped, and told
// to dropped (which may be nil) before removal.
func New(dir, ext string, max int, log *slog.Logger) (*Spool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create queue folder: %w", err)
	}
	return &Spool{dir: dir, ext: ext, max: max, log: log, now: time.Now,
		first: 30 * time.Second, longest: 30 * time.Minute, kick: make(chan struct{}, 1)}, nil
}

// SetBackoff sets the first and the longest delay between delivery passes
// while the receiver fails.
func (s *Spool) SetBackoff(first, longest time.Duration) {
	if first > 0 {
		s.first = first
	}
	if longest >= s.first {
		s.longest = longest
	}
}

// SetClock replaces time.Now in the file names (tests).
func (s *Spool) SetClock(now func() time.Time) { s.now = now }

// Dir is the queue folder.
func (s *Spool) Dir() string { return s.dir }

// Enqueue stores data as a new item and wakes the delivery loop. dropped,
// when not nil, is called with each item pushed out by the bound.
func (s *Spool) Enqueue(data []byte, dropped func(data []byte)) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	name := fmt.Sprintf("%020d-%s%s", s.now().UnixNano(), hex.EncodeToString(rnd[:]), s.ext)
	s.mu.Lock()
	err := atomicfile.Write(filepath.Join(s.dir, name), data, 0o600)
	if err == nil {
		s.trimLocked(dropped)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

func (s *Spool) trimLocked(dropped func([]byte)) {
	names, err := s.listLocked()
	if err != nil {
		s.log.Warn("cannot list the queue", "dir", s.dir, "error", err)
		return
	}
	for ; len(names) > s.max; names = names[1:] {
		p := filepath.Join(s.dir, names[0])
		if dropped != nil {
			if data, err := read(p); err == nil {
				dropped(data)
			}
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot drop a queued item", "file", names[0], "error", err)
			return
		}
	}
}

func (s *Spool) listLocked() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("read queue folder: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), s.ext) && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// Len returns how many items wait.
func (s *Spool) Len() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.listLocked()
	return len(names), err
}

// read loads one queued file: a regular file, not through a symlink, at
// most MaxItem bytes.
func read(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > MaxItem {
		return nil, fmt.Errorf("queued file %s is not a regular file of at most %d bytes", filepath.Base(p), MaxItem)
	}
	return io.ReadAll(io.LimitReader(f, MaxItem))
}

// Deliver hands one item to the receiver: nil means accepted (the item is
// removed); an error wrapping ErrPermanent keeps it and goes on with the
// next; any other error stops the pass (the receiver is down).
type Deliver func(ctx context.Context, data []byte) error

// Flush tries once to deliver every queued item, oldest first. An
// unreadable item is logged and dropped. The error joins the failures; nil
// means the queue is empty.
func (s *Spool) Flush(ctx context.Context, deliver Deliver) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	names, err := s.listLocked()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, fmt.Errorf("flush queue: %w", err))...)
		}
		p := filepath.Join(s.dir, name)
		data, err := read(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // dropped meanwhile by Enqueue
		}
		if err != nil {
			s.log.Error("dropping an unreadable queued item", "file", name, "error", err)
			s.remove(p)
			continue
		}
		if err := deliver(ctx, data); err != nil {
			errs = append(errs, err)
			if errors.Is(err, ErrPermanent) {
				continue
			}
			break
		}
		s.remove(p)
	}
	return errors.Join(errs...)
}

func (s *Spool) remove(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// The item would be delivered again; say so.
		s.log.Error("cannot remove a delivered item from the queue; it will be sent again", "file", filepath.Base(p), "error", err)
		return
	}
	atomicfile.SyncDir(s.dir)
}

// Run delivers in the background until ctx is done: at once when an item
// is queued (and at start, for items left by an earlier run), and while the
// receiver fails, again after a delay that starts at the first backoff and
// doubles up to the longest, with ±20% jitter. retrying, when not nil, is
// told each wait.
func (s *Spool) Run(ctx context.Context, deliver Deliver, retrying func(wait time.Duration)) {
	var delay time.Duration
	for {
		err := s.Flush(ctx, deliver)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			delay = 0
			select {
			case <-ctx.Done():
				return
			case <-s.kick:
			}
			continue
		}
		delay = NextDelay(delay, s.first, s.longest)
		wait := Jitter(delay)
		if retrying != nil {
			retrying(wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// NextDelay doubles d within [lo, hi].
func NextDelay(d, lo, hi time.Duration) time.Duration {
	if d < lo {
		return lo
	}
	return min(2*d, hi)
}

// Jitter spreads d by ±20%.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	span := int64(d) * 2 / 5
	if span <= 0 {
		return d
	}
	return time.Duration(int64(d) - span/2 + mrand.Int64N(span+1))
}
