package notify

import (
	"log/slog"
	"maps"
	"slices"
	"sync"
)

// Fanout is the one way out of an alert batch: it queues it, scrubbed of
// secrets, for every receiver. Its methods are safe for concurrent use.
type Fanout struct {
	scrub func(string) string
	log   *slog.Logger

	mu     sync.Mutex
	queues []*Queue
}

// NewFanout returns a fan-out over queues. scrub, when not nil, is applied
// to every text of a batch before it is queued, so no queue folder and no
// receiver ever holds a secret the agent knows.
func NewFanout(scrub func(string) string, log *slog.Logger, queues ...*Queue) *Fanout {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fanout{scrub: scrub, log: log, queues: queues}
}

// Add adds a queue, replacing the one of the same receiver name.
func (f *Fanout) Add(q *Queue) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queues = slices.DeleteFunc(f.queues, func(o *Queue) bool { return o.Name() == q.Name() })
	f.queues = append(f.queues, q)
}

// Remove stops queueing for the named receiver.
func (f *Fanout) Remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queues = slices.DeleteFunc(f.queues, func(o *Queue) bool { return o.Name() == name })
}

// Queue returns the queue of the named receiver, or nil.
func (f *Fanout) Queue(name string) *Queue {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range f.queues {
		if q.Name() == name {
			return q
		}
	}
	return nil
}

// Queues returns the queues, in the order they were added.
func (f *Fanout) Queues() []*Queue {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queues)
}

// Only selects the named receivers for Enqueue.
func Only(names ...string) func(string) bool {
	return func(n string) bool { return slices.Contains(names, n) }
}

// Except selects every receiver but the named ones.
func Except(names ...string) func(string) bool {
	return func(n string) bool { return !slices.Contains(names, n) }
}

// Enqueue queues b for each selected receiver (all when pick is nil). A
// queue that cannot store it is logged; the others still get it. It
// returns how many queues took the batch.
func (f *Fanout) Enqueue(b Batch, pick func(name string) bool) int {
	if f.scrub != nil {
		b = b.Scrub(f.scrub)
	}
	n := 0
	for _, q := range f.Queues() {
		if pick != nil && !pick(q.Name()) {
			continue
		}
		if err := q.Enqueue(b); err != nil {
			f.log.Error("alert events not queued", "receiver", q.Name(), "err", err)
			continue
		}
		n++
	}
	return n
}

// Scrub returns a copy of b with every text passed through s (a
// redactor).
func (b Batch) Scrub(s func(string) string) Batch {
	out := Batch{Host: s(b.Host), Time: b.Time}
	for _, n := range b.Notes {
		out.Notes = append(out.Notes, s(n))
	}
	for _, e := range b.Events {
		e.Summary, e.Advice, e.Label = s(e.Summary), s(e.Advice), s(e.Label)
		e.Status, e.PreviousStatus = s(e.Status), s(e.PreviousStatus)
		metrics := slices.Clone(e.Metrics)
		for i, m := range metrics {
			if len(m.Label) > 0 {
				m.Label = maps.Clone(m.Label)
				for k, v := range m.Label {
					m.Label[k] = s(v)
				}
			}
			metrics[i] = m
		}
		e.Metrics = metrics
		out.Events = append(out.Events, e)
	}
	return out
}
