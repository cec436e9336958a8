package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/pbxagent/pbxagent/mailer"
)

// queueExt is the extension of queued batch files.
const queueExt = ".event.json"

// maxQueued bounds the size of one queued file read back.
const maxQueued = 4 << 20

// Queue is the durable queue of one receiver: one file per batch in its
// own folder (0700, files 0600, written atomically), delivered oldest first,
// with the mail queue's backoff (30s doubling to 30m, ±20% jitter) while
// the receiver fails.
type Queue struct {
	r        Receiver
	dir      string
	max      int
	log      *slog.Logger
	min, cap time.Duration
	// OnAttempt, when set, is told about every delivery attempt.
	OnAttempt func(ok bool)

	mu     sync.Mutex // the folder's listing and removals
	sendMu sync.Mutex // one delivery pass at a time
	kick   chan struct{}
}

// NewQueue returns the queue of r in dir/<r.Name()>, keeping at most max
// batches (the oldest are dropped and logged beyond that).
func NewQueue(r Receiver, dir string, queueMax int, log *slog.Logger) (*Queue, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{r: r, dir: filepath.Join(dir, r.Name()), max: max(queueMax, 1), log: log.With("receiver", r.Name()),
		min: mailer.DefaultBackoffMin, cap: mailer.DefaultBackoffMax, kick: make(chan struct{}, 1)}
	if err := os.MkdirAll(q.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the %s alert queue folder: %w", r.Name(), err)
	}
	return q, nil
}

// SetBackoff sets the first and the longest delay between attempts.
func (q *Queue) SetBackoff(first, longest time.Duration) { q.min, q.cap = first, max(longest, first) }

// Enqueue stores b and wakes the delivery loop.
func (q *Queue) Enqueue(b Batch) error {
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode alert events: %w", err)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	name := fmt.Sprintf("%020d-%s%s", time.Now().UnixNano(), hex.EncodeToString(rnd[:]), queueExt)
	q.mu.Lock()
	err = atomicfile.Write(filepath.Join(q.dir, name), data, 0o600)
	if err == nil {
		q.trimLocked()
	}
	q.mu.Unlock()
	if err != nil {
		return fmt.Errorf("queue alert events for %s: %w", q.r.Name(), err)
	}
	select {
	case q.kick <- struct{}{}:
	default:
	}
	return nil
}

func (q *Queue) listLocked() ([]string, error) {
	ents, err := os.ReadDir(q.dir)
	if err != nil {
		return nil, fmt.Errorf("read the %s alert queue folder: %w", q.r.Name(), err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), queueExt) && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

func (q *Queue) trimLocked() {
	names, err := q.listLocked()
	if err != nil {
		q.log.Warn("cannot list the alert queue", "error", err)
		return
	}
	for ; len(names) > q.max; names = names[1:] {
		if err := os.Remove(filepath.Join(q.dir, names[0])); err != nil && !errors.Is(err, fs.ErrNotExist) {
			q.log.Warn("cannot drop a queued alert event", "file", names[0], "error", err)
			return
		}
		q.log.Warn("alert queue full; dropped the oldest events", "queue_max", q.max)
	}
}

// Len returns how many batches wait.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	names, _ := q.listLocked()
	return len(names)
}

// read loads one queued file, refusing anything but a small regular file.
func read(p string) (*Batch, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxQueued {
		return nil, fmt.Errorf("queued file %s is not a small regular file", filepath.Base(p))
	}
	var b Batch
	if err := json.NewDecoder(f).Decode(&b); err != nil {
		return nil, fmt.Errorf("decode queued file %s: %w", filepath.Base(p), err)
	}
	return &b, nil
}

// Flush tries once to deliver every queued batch, oldest first, removing
// each one the receiver accepted. It stops at the first temporary failure;
// a permanently refused batch stays queued (until the queue bound pushes it
// out) and the next ones are still tried. nil means the queue is empty.
func (q *Queue) Flush(ctx context.Context) error {
	q.sendMu.Lock()
	defer q.sendMu.Unlock()
	q.mu.Lock()
	names, err := q.listLocked()
	q.mu.Unlock()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		p := filepath.Join(q.dir, name)
		b, err := read(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			q.log.Error("dropping an unreadable queued alert event", "file", name, "error", err)
			q.remove(p)
			continue
		}
		err = q.r.Send(ctx, *b)
		if q.OnAttempt != nil {
			q.OnAttempt(err == nil)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("deliver alert events to %s: %w", q.r.Name(), err))
			if errors.Is(err, ErrPermanent) {
				q.log.Error("alert events refused; kept in the queue", "error", err)
				continue
			}
			q.log.Warn("alert events not delivered; will retry", "error", err)
			break
		}
		q.remove(p)
		q.log.Info("alert events delivered", "events", len(b.Events))
	}
	return errors.Join(errs...)
}

func (q *Queue) remove(p string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		q.log.Error("cannot remove delivered alert events from the queue; they will be sent again", "error", err)
		return
	}
	atomicfile.SyncDir(q.dir)
}

// Run delivers in the background until ctx is done: at once when a batch is
// queued and at start, and while the receiver fails, again after a delay
// that doubles from the backoff minimum to its maximum, with ±20% jitter.
func (q *Queue) Run(ctx context.Context) {
	var delay time.Duration
	for {
		err := q.Flush(ctx)
		if ctx.Err() != nil {
			return
		}
		var wait <-chan time.Time
		if err != nil {
			delay = nextDelay(delay, q.min, q.cap)
			wait = time.After(jitter(delay))
		} else {
			delay = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-q.kick:
			if err != nil {
				// A new batch while the receiver fails waits for the backoff.
				select {
				case <-ctx.Done():
					return
				case <-wait:
				}
			}
		case <-wait:
		}
	}
}

func nextDelay(d, lo, hi time.Duration) time.Duration {
	if d < lo {
		return lo
	}
	return min(2*d, hi)
}

func jitter(d time.Duration) time.Duration {
	span := int64(d) * 2 / 5
	if span <= 0 {
		return d
	}
	return time.Duration(int64(d) - span/2 + mrand.Int64N(span+1))
}
