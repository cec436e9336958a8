package notify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/internal/spool"
)

// queueExt is the extension of queued item files.
const queueExt = ".event.json"

// MaxBackoff is the longest delay between two delivery passes of a queue
// while its receiver fails; the first is alerts.retry_after.
const MaxBackoff = 30 * time.Minute

// Queue is the durable queue of one receiver, in its own folder on the
// spool, with the backoff every receiver shares (alerts.retry_after, 30s
// by default, doubling to 30m, ±20% jitter).
type Queue struct {
	name string
	s    *spool.Spool
	log  *slog.Logger
	now  func() time.Time

	mu sync.Mutex
	r  Receiver
	// onAttempt, when set, is told about every delivery attempt.
	onAttempt func(ok bool)
}

// NewQueue returns the queue of r in dir/<r.Name()>, keeping at most
// queueMax items (the oldest are dropped and logged beyond that).
func NewQueue(r Receiver, dir string, queueMax int, log *slog.Logger) (*Queue, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("receiver", r.Name())
	s, err := spool.New(filepath.Join(dir, r.Name()), queueExt, max(queueMax, 1), log)
	if err != nil {
		return nil, fmt.Errorf("%s alert queue: %w", r.Name(), err)
	}
	return &Queue{name: r.Name(), r: r, s: s, log: log, now: time.Now}, nil
}

// Name is the receiver's name.
func (q *Queue) Name() string { return q.name }

// SetBackoff sets the first and the longest delay between attempts.
func (q *Queue) SetBackoff(first, longest time.Duration) { q.s.SetBackoff(first, longest) }

// OnAttempt makes f learn each delivery attempt's result (the metrics).
func (q *Queue) OnAttempt(f func(ok bool)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.onAttempt = f
}

// SetReceiver replaces the receiver (a configuration reload changed its
// settings); it must have the same name. The queued items stay.
func (q *Queue) SetReceiver(r Receiver) error {
	if r.Name() != q.name {
		return fmt.Errorf("receiver %s cannot take over the %s queue", r.Name(), q.name)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.r = r
	return nil
}

// Dir is the queue folder.
func (q *Queue) Dir() string { return q.s.Dir() }

// Enqueue stores b as a new item and wakes the delivery loop.
func (q *Queue) Enqueue(b Batch) error {
	now := q.now()
	var rnd [8]byte
	rand.Read(rnd[:])
	it := Item{ID: fmt.Sprintf("pbxagent.%d.%s", now.UnixNano(), hex.EncodeToString(rnd[:])), Queued: now.UTC(), Batch: b}
	return q.put(it)
}

func (q *Queue) put(it Item) error {
	data, err := json.Marshal(&it)
	if err != nil {
		return fmt.Errorf("encode alert events: %w", err)
	}
	err = q.s.Enqueue(data, func(old []byte) {
		d, _ := decode(old)
		q.log.Warn("alert queue full; dropped the oldest item", "id", d.ID, "queued", d.Queued, "events", len(d.Events))
	})
	if err != nil {
		return fmt.Errorf("queue alert events for %s: %w", q.name, err)
	}
	return nil
}

// Len returns how many items wait.
func (q *Queue) Len() int {
	n, _ := q.s.Len()
	return n
}

// decode reads a queued item. An item queued before items had an ID is a
// bare batch: its ID is derived from its bytes and it counts as queued at
// the batch's time.
func decode(data []byte) (Item, error) {
	var it Item
	if err := json.Unmarshal(data, &it); err != nil {
		return it, err
	}
	if it.ID == "" {
		sum := sha256.Sum256(data)
		it.ID = "pbxagent." + hex.EncodeToString(sum[:12])
	}
	if it.Queued.IsZero() {
		it.Queued = it.Time
	}
	return it, nil
}

// deliver sends one queued item.
func (q *Queue) deliver(ctx context.Context, data []byte) error {
	it, err := decode(data)
	if err != nil {
		q.log.Error("dropping an undecodable queued alert item", "error", err)
		return nil // removed: it can never be sent
	}
	q.mu.Lock()
	r, hook := q.r, q.onAttempt
	q.mu.Unlock()
	err = r.Send(ctx, it)
	if hook != nil {
		hook(err == nil)
	}
	if err != nil {
		err = fmt.Errorf("deliver alert events to %s: %w", q.name, err)
		if errors.Is(err, ErrPermanent) {
			q.log.Error("alert events refused; kept in the queue", "id", it.ID, "error", err)
			return fmt.Errorf("%w: %w", spool.ErrPermanent, err)
		}
		q.log.Warn("alert events not delivered; will retry", "id", it.ID, "error", err)
		return err
	}
	q.log.Info("alert events delivered", "id", it.ID, "events", len(it.Events), "queued_for", q.now().Sub(it.Queued).Round(time.Second))
	return nil
}

// Flush tries once to deliver every queued item, oldest first (see
// spool.Spool.Flush); nil means the queue is empty.
func (q *Queue) Flush(ctx context.Context) error { return q.s.Flush(ctx, q.deliver) }

// Run delivers in the background until ctx is done, with backoff while the
// receiver fails.
func (q *Queue) Run(ctx context.Context) {
	q.s.Run(ctx, q.deliver, func(wait time.Duration) {
		q.log.Info("alert delivery failed; retrying later", "in", wait.Round(time.Second))
	})
}

// Import moves the files named *ext directly in dir, the queue of an
// earlier version, into this queue, converting each with convert; see
// spool.Spool.Import. It returns how many items were imported.
func (q *Queue) Import(dir, ext string, convert func([]byte) (Item, error)) (int, error) {
	return q.s.Import(dir, ext, func(old []byte) ([]byte, error) {
		it, err := convert(old)
		if err != nil {
			return nil, err
		}
		return json.Marshal(&it)
	})
}
