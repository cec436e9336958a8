package mailer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/internal/atomicfile"
)

// queueExt is the extension of queued mail files.
const queueExt = ".mail.json"

// queued is one mail file in the queue folder.
type queued struct {
	// Created is when the mail was queued; it is the Date header.
	Created time.Time `json:"created"`
	// MessageID is kept across attempts so that a mail resent after a
	// crash can be recognised as the same one.
	MessageID string  `json:"message_id"`
	Message   Message `json:"message"`

	file string
}

// Enqueue stores msg in the on-disk queue (file mode 0600, written
// atomically) and wakes the delivery loop. When the queue holds more than
// queueMax mails, the oldest are dropped and logged.
func (m *Mailer) Enqueue(msg Message) error {
	if m.queueDir == "" {
		return errors.New("queue alert mail: the mailer has no queue folder")
	}
	now := m.nowFunc()
	id := randomID(8)
	q := queued{
		Created:   now,
		MessageID: fmt.Sprintf("pbxagent.%d.%s@%s", now.UnixNano(), id, m.hostname),
		Message:   msg,
	}
	b, err := json.Marshal(&q)
	if err != nil {
		return fmt.Errorf("encode alert mail: %w", err)
	}
	name := fmt.Sprintf("%020d-%s%s", now.UnixNano(), id, queueExt)
	m.qmu.Lock()
	err = atomicfile.Write(filepath.Join(m.queueDir, name), b, 0o600)
	if err == nil {
		m.trimLocked()
	}
	m.qmu.Unlock()
	if err != nil {
		return fmt.Errorf("queue alert mail %q: %w", msg.Subject, err)
	}
	m.log.Debug("alert mail queued", "subject", msg.Subject)
	select {
	case m.kick <- struct{}{}:
	default:
	}
	return nil
}

// trimLocked drops the oldest mails beyond queueMax; qmu must be held.
func (m *Mailer) trimLocked() {
	names, err := m.listLocked()
	if err != nil {
		m.log.Warn("cannot list the alert mail queue", "error", err)
		return
	}
	for len(names) > m.queueMax {
		p := filepath.Join(m.queueDir, names[0])
		subject := ""
		if q, err := readQueued(p); err == nil {
			subject = q.Message.Subject
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			m.log.Warn("cannot drop a queued alert mail", "file", names[0], "error", err)
			return
		}
		m.log.Warn("alert mail queue full; dropped the oldest mail", "subject", subject, "queue_max", m.queueMax)
		names = names[1:]
	}
}

// listLocked returns the queued file names, oldest first; qmu must be held.
func (m *Mailer) listLocked() ([]string, error) {
	entries, err := os.ReadDir(m.queueDir)
	if err != nil {
		return nil, fmt.Errorf("read mail queue folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), queueExt) && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

func readQueued(path string) (*queued, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read queued mail: %w", err)
	}
	var q queued
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, fmt.Errorf("decode queued mail %s: %w", filepath.Base(path), err)
	}
	q.file = path
	return &q, nil
}

// Queued returns how many mails wait in the queue.
func (m *Mailer) Queued() (int, error) {
	if m.queueDir == "" {
		return 0, nil
	}
	m.qmu.Lock()
	defer m.qmu.Unlock()
	names, err := m.listLocked()
	return len(names), err
}

// Flush tries once now to deliver every queued mail, oldest first, and
// removes each one delivered. It stops at the first mail no server would
// take for a temporary reason (the servers are down: the rest would fail
// too); a mail every server refuses permanently stays queued (until
// queueMax pushes it out) and the others are still tried. The error joins
// the failures; nil means the queue is empty.
func (m *Mailer) Flush(ctx context.Context) error {
	if m.queueDir == "" {
		return nil
	}
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	m.qmu.Lock()
	names, err := m.listLocked()
	m.qmu.Unlock()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, fmt.Errorf("flush alert mail queue: %w", err))...)
		}
		p := filepath.Join(m.queueDir, name)
		q, err := readQueued(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // dropped meanwhile by Enqueue
		}
		if err != nil {
			m.log.Error("dropping an unreadable queued alert mail", "file", name, "error", err)
			m.remove(p)
			continue
		}
		srv, reply, permanent, err := m.send(ctx, q)
		if m.onAttempt != nil {
			m.onAttempt(err == nil)
		}
		if err != nil {
			err = fmt.Errorf("deliver alert mail %q: %w", q.Message.Subject, err)
			errs = append(errs, err)
			if permanent {
				m.log.Error("alert mail refused by every mail server; kept in the queue", "subject", q.Message.Subject, "error", err)
				continue
			}
			m.log.Warn("alert mail not delivered; will retry", "subject", q.Message.Subject, "error", err)
			break
		}
		m.remove(p)
		m.log.Info("alert mail sent", "subject", q.Message.Subject, "via", srv, "reply", reply, "queued_for", m.nowFunc().Sub(q.Created).Round(time.Second))
	}
	return errors.Join(errs...)
}

func (m *Mailer) remove(p string) {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// The mail would be sent again; say so.
		m.log.Error("cannot remove a delivered alert mail from the queue", "file", filepath.Base(p), "error", err)
		return
	}
	atomicfile.SyncDir(m.queueDir)
}

// Run delivers queued mails in the background until ctx is done: at once
// when a mail is queued (and at start, for mails left by an earlier run),
// and while the mail servers fail, again after a delay that starts at the
// backoff minimum and doubles up to the maximum, with ±20% jitter. It
// returns nil when ctx is done.
func (m *Mailer) Run(ctx context.Context) error {
	var delay time.Duration
	for {
		err := m.Flush(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			delay = 0
			select {
			case <-ctx.Done():
				return nil
			case <-m.kick:
			}
			continue
		}
		delay = nextDelay(delay, m.backoffMin, m.backoffMax)
		wait := jitter(delay)
		m.log.Info("alert mail delivery failed; retrying later", "in", wait.Round(time.Second))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// nextDelay doubles d within [lo, hi].
func nextDelay(d, lo, hi time.Duration) time.Duration {
	if d < lo {
		return lo
	}
	return min(2*d, hi)
}

// jitter spreads d by ±20%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	span := int64(d) * 2 / 5
	if span <= 0 {
		return d
	}
	return time.Duration(int64(d) - span/2 + rand.Int64N(span+1))
}
