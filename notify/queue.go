package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/pbxagent/pbxagent/internal/spool"
)

// queueExt is the extension of queued batch files.
const queueExt = ".event.json"

// Queue is the durable queue of one receiver, in its own folder, on the
// same spool (and with the same backoff: alerts.retry_after, 30s by default, doubling
// to 30m, ±20% jitter)
// as the mail queue.
type Queue struct {
	r   Receiver
	s   *spool.Spool
	log *slog.Logger
	// OnAttempt, when set, is told about every delivery attempt.
	OnAttempt func(ok bool)
}

// NewQueue returns the queue of r in dir/<r.Name()>, keeping at most
// queueMax batches (the oldest are dropped and logged beyond that).
func NewQueue(r Receiver, dir string, queueMax int, log *slog.Logger) (*Queue, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("receiver", r.Name())
	s, err := spool.New(filepath.Join(dir, r.Name()), queueExt, max(queueMax, 1), log)
	if err != nil {
		return nil, fmt.Errorf("%s alert queue: %w", r.Name(), err)
	}
	return &Queue{r: r, s: s, log: log}, nil
}

// SetBackoff sets the first and the longest delay between attempts.
func (q *Queue) SetBackoff(first, longest time.Duration) { q.s.SetBackoff(first, longest) }

// Dir is the queue folder.
func (q *Queue) Dir() string { return q.s.Dir() }

// Enqueue stores b and wakes the delivery loop.
func (q *Queue) Enqueue(b Batch) error {
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode alert events: %w", err)
	}
	err = q.s.Enqueue(data, func([]byte) { q.log.Warn("alert queue full; dropped the oldest events") })
	if err != nil {
		return fmt.Errorf("queue alert events for %s: %w", q.r.Name(), err)
	}
	return nil
}

// Len returns how many batches wait.
func (q *Queue) Len() int {
	n, _ := q.s.Len()
	return n
}

// deliver sends one queued batch.
func (q *Queue) deliver(ctx context.Context, data []byte) error {
	var b Batch
	if err := json.Unmarshal(data, &b); err != nil {
		q.log.Error("dropping an undecodable queued alert event", "error", err)
		return nil
	}
	err := q.r.Send(ctx, b)
	if q.OnAttempt != nil {
		q.OnAttempt(err == nil)
	}
	if err != nil {
		err = fmt.Errorf("deliver alert events to %s: %w", q.r.Name(), err)
		if errors.Is(err, ErrPermanent) {
			q.log.Error("alert events refused; kept in the queue", "error", err)
			return fmt.Errorf("%w: %w", spool.ErrPermanent, err)
		}
		q.log.Warn("alert events not delivered; will retry", "error", err)
		return err
	}
	q.log.Info("alert events delivered", "events", len(b.Events))
	return nil
}

// Flush tries once to deliver every queued batch, oldest first (see
// spool.Spool.Flush); nil means the queue is empty.
func (q *Queue) Flush(ctx context.Context) error { return q.s.Flush(ctx, q.deliver) }

// Run delivers in the background until ctx is done, with backoff while the
// receiver fails.
func (q *Queue) Run(ctx context.Context) {
	q.s.Run(ctx, q.deliver, func(wait time.Duration) {
		q.log.Info("alert event delivery failed; retrying later", "in", wait.Round(time.Second))
	})
}
