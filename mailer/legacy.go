package mailer

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pbxagent/pbxagent/notify"
)

// LegacyExt is the extension of the mail files the mail queue of earlier
// versions kept directly in the queue folder (config.Config.QueueDir),
// already rendered.
const LegacyExt = ".mail.json"

// legacyMail is one mail file of that queue.
type legacyMail struct {
	Created   time.Time `json:"created"`
	MessageID string    `json:"message_id"`
	Message   *Message  `json:"message"`
}

// ImportQueue moves the mails an earlier version left queued in dir into
// q, the email receiver's queue, at start and before q runs, so that an
// upgrade loses none and sends each once, with its Date and Message-ID.
// Each mail is written to q atomically (0600, fsynced) before its old
// file is removed; a file that is not such a mail is kept aside as
// <name>.corrupt and logged (see spool.Spool.Import).
func ImportQueue(q *notify.Queue, dir string, log *slog.Logger) error {
	n, err := q.Import(dir, LegacyExt, fromLegacy)
	if n > 0 && log != nil {
		log.Info("mails queued by the previous version moved to the email queue", "mails", n, "queue", q.Dir())
	}
	if err != nil {
		return fmt.Errorf("move the previous version's mail queue: %w", err)
	}
	return nil
}

// fromLegacy converts one old mail file into a queue item.
func fromLegacy(data []byte) (notify.Item, error) {
	var old legacyMail
	if err := json.Unmarshal(data, &old); err != nil {
		return notify.Item{}, fmt.Errorf("not a queued mail: %w", err)
	}
	if old.Message == nil || old.Message.Subject == "" || old.MessageID == "" || old.Created.IsZero() {
		return notify.Item{}, errors.New("not a queued mail: subject, message_id or created missing")
	}
	return notify.Item{ID: old.MessageID, Queued: old.Created, Mail: old.Message}, nil
}
