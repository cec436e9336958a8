package mailer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/notify"
)

// Message is one mail; sender and recipients come from the configuration.
type Message = notify.Mail

// Name is "email": the mailer's queue folder and metrics label.
func (m *Mailer) Name() string { return notify.ReceiverEmail }

// Send delivers one queued item as a mail: the digest of its events,
// rendered as text and HTML (or, for a mail an earlier version queued
// rendered, that mail as it is), redacted, through the first mail server
// that takes it. Its Date is when the item was queued and its Message-ID
// comes from the item's ID, so a mail sent again after a crash is
// recognisably the same one. A mail every server refuses permanently
// (5xx) wraps notify.ErrPermanent.
func (m *Mailer) Send(ctx context.Context, it notify.Item) error {
	it.Batch = it.Scrub(m.scrubString) // before rendering: HTML escaping would hide a secret
	msg := Render(it)
	if msg.Subject == "" && msg.Text == "" {
		m.log.Error("dropping a queued alert item with nothing to mail", "id", it.ID)
		return nil
	}
	msg.Subject, msg.Text, msg.HTML = m.scrubString(msg.Subject), m.scrubString(msg.Text), m.scrubString(msg.HTML)
	out := outgoing{msg: msg, date: it.Queued, id: m.messageID(it.ID)}
	if out.date.IsZero() {
		out.date = m.nowFunc()
	}
	srv, reply, permanent, err := m.send(ctx, &out)
	if err != nil {
		err = fmt.Errorf("alert mail %q: %w", msg.Subject, err)
		if permanent {
			return fmt.Errorf("%w: %w", notify.ErrPermanent, err)
		}
		return err
	}
	m.log.Info("alert mail sent", "subject", msg.Subject, "via", srv, "reply", reply,
		"queued_for", m.nowFunc().Sub(out.date).Round(time.Second))
	return nil
}

// Render is the mail of a queued item: the one an earlier version rendered
// when it queued it, or the digest of the item's events.
func Render(it notify.Item) Message {
	if it.Mail != nil {
		return *it.Mail
	}
	if len(it.Events) == 0 {
		return Message{}
	}
	d := it.Digest()
	return Message{Subject: d.Subject(), Text: d.Text(), HTML: d.HTML()}
}

// messageID is the Message-ID of the item id: id itself when it is a whole
// one (mails queued by an earlier version), else id@hostname.
func (m *Mailer) messageID(id string) string {
	if id == "" {
		id = fmt.Sprintf("pbxagent.%d.%s", m.nowFunc().UnixNano(), randomID(8))
	}
	if strings.Contains(id, "@") {
		return id
	}
	return id + "@" + m.hostname
}
