package mailer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pbxagent/pbxagent/internal/spool"
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
}

// Enqueue stores msg in the on-disk queue (internal/spool: file mode 0600,
// written atomically) and wakes the delivery loop. When the queue holds
// more than queueMax mails, the oldest are dropped and logged.
func (m *Mailer) Enqueue(msg Message) error {
	if m.spool == nil {
		return errors.New("queue alert mail: the mailer has no queue folder")
	}
	// Mails are redacted before they are queued, so neither the queue
	// folder nor the mail server ever holds a secret.
	msg.Subject, msg.Text, msg.HTML = m.scrubString(msg.Subject), m.scrubString(msg.Text), m.scrubString(msg.HTML)
	now := m.nowFunc()
	q := queued{
		Created:   now,
		MessageID: fmt.Sprintf("pbxagent.%d.%s@%s", now.UnixNano(), randomID(8), m.hostname),
		Message:   msg,
	}
	b, err := json.Marshal(&q)
	if err != nil {
		return fmt.Errorf("encode alert mail: %w", err)
	}
	err = m.spool.Enqueue(b, func(old []byte) {
		var d queued
		json.Unmarshal(old, &d) //nolint:errcheck // the subject is for the log only
		m.log.Warn("alert mail queue full; dropped the oldest mail", "subject", d.Message.Subject, "queue_max", m.queueMax)
	})
	if err != nil {
		return fmt.Errorf("queue alert mail %q: %w", msg.Subject, err)
	}
	m.log.Debug("alert mail queued", "subject", msg.Subject)
	return nil
}

// Queued returns how many mails wait in the queue.
func (m *Mailer) Queued() (int, error) {
	if m.spool == nil {
		return 0, nil
	}
	return m.spool.Len()
}

// Flush tries once now to deliver every queued mail, oldest first, and
// removes each one delivered. It stops at the first mail no server would
// take for a temporary reason (the servers are down: the rest would fail
// too); a mail every server refuses permanently stays queued (until
// queueMax pushes it out) and the others are still tried. The error joins
// the failures; nil means the queue is empty.
func (m *Mailer) Flush(ctx context.Context) error {
	if m.spool == nil {
		return nil
	}
	return m.spool.Flush(ctx, m.deliver)
}

// deliver sends one queued mail for the spool.
func (m *Mailer) deliver(ctx context.Context, data []byte) error {
	var q queued
	if err := json.Unmarshal(data, &q); err != nil {
		m.log.Error("dropping an undecodable queued alert mail", "error", err)
		return nil // removed: it can never be sent
	}
	srv, reply, permanent, err := m.send(ctx, &q)
	if m.onAttempt != nil {
		m.onAttempt(err == nil)
	}
	if err != nil {
		err = fmt.Errorf("deliver alert mail %q: %w", q.Message.Subject, err)
		if permanent {
			m.log.Error("alert mail refused by every mail server; kept in the queue", "subject", q.Message.Subject, "error", err)
			return fmt.Errorf("%w: %w", spool.ErrPermanent, err)
		}
		m.log.Warn("alert mail not delivered; will retry", "subject", q.Message.Subject, "error", err)
		return err
	}
	m.log.Info("alert mail sent", "subject", q.Message.Subject, "via", srv, "reply", reply, "queued_for", m.nowFunc().Sub(q.Created).Round(time.Second))
	return nil
}

// Run delivers queued mails in the background until ctx is done: at once
// when a mail is queued (and at start, for mails left by an earlier run),
// and while the mail servers fail, again after a delay that starts at the
// backoff minimum and doubles up to the maximum, with ±20% jitter. It
// returns nil when ctx is done.
func (m *Mailer) Run(ctx context.Context) error {
	if m.spool == nil {
		<-ctx.Done()
		return nil
	}
	m.spool.Run(ctx, m.deliver, func(wait time.Duration) {
		m.log.Info("alert mail delivery failed; retrying later", "in", wait.Round(time.Second))
	})
	return nil
}
