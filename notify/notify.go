// Package notify is the one way out of the alert engine's events: every
// receiver — email (package mailer), a Prometheus Alertmanager (POST
// /api/v2/alerts) and a generic JSON webhook with an HMAC-SHA256 signed
// body — is a Receiver with its own durable queue on disk (Queue, on
// internal/spool), and a Fanout queues each batch of events for all of
// them. An event leaves a queue only once its receiver accepted it, so
// neither a restart of the agent nor an outage of a receiver loses or
// repeats one, and every receiver retries with the same backoff.
package notify

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/pbxagent/pbxagent/alert"
	"github.com/pbxagent/pbxagent/collectors"
)

// Event is one check's change, reminder or recovery.
type Event struct {
	Check string `json:"check"`
	// Kind is "problem", "recovery" or "reminder".
	Kind string `json:"kind"`
	// State is the new state, Previous the one before (equal for
	// reminders): OK, WARNING, CRITICAL or UNKNOWN.
	State    string `json:"state"`
	Previous string `json:"previous"`
	// Since is when the check entered State.
	Since time.Time `json:"since"`
	// LastedSeconds is how long the problem lasted (recovery) or has lasted
	// so far.
	LastedSeconds float64 `json:"lasted_seconds,omitempty"`
	Summary       string  `json:"summary,omitempty"`
	Advice        string  `json:"advice,omitempty"`
	// Label names an item of a check for people ("Trunk carrier-a");
	// PreviousStatus and Status are its state in its own words ("ONLINE",
	// "OFFLINE"). Empty for a check.
	Label          string `json:"label,omitempty"`
	PreviousStatus string `json:"previous_status,omitempty"`
	Status         string `json:"status,omitempty"`
	// Metrics are the check's latest values.
	Metrics []collectors.Metric `json:"metrics,omitempty"`
}

// Batch is the events of one alert digest of one host, the unit queued and
// delivered.
type Batch struct {
	Host   string    `json:"host"`
	Time   time.Time `json:"time"`
	Events []Event   `json:"events"`
	// Notes are paragraphs about the batch as a whole (the support bundle
	// an alert took).
	Notes []string `json:"notes,omitempty"`
}

// FromDigest turns an alert digest into a batch; Digest turns it back.
func FromDigest(d *alert.Digest) Batch {
	b := Batch{Host: d.Host, Time: d.Time.UTC(), Notes: slices.Clone(d.Notes)}
	for _, it := range d.Items {
		b.Events = append(b.Events, Event{Check: it.Check, Kind: it.Kind.String(), State: it.To.String(),
			Previous: it.From.String(), Since: it.Since.UTC(), LastedSeconds: it.Lasted.Seconds(),
			Summary: it.Summary, Advice: it.Advice, Label: it.Label, PreviousStatus: it.FromStatus,
			Status: it.ToStatus, Metrics: slices.Clone(it.Metrics)})
	}
	return b
}

// Digest turns the batch back into the alert digest it was made of, with
// its times in the local zone, for receivers that render it for people
// (the mail). A kind or state it does not know reads as a problem and
// UNKNOWN.
func (b Batch) Digest() *alert.Digest {
	d := &alert.Digest{Host: b.Host, Time: b.Time.Local(), Notes: slices.Clone(b.Notes)}
	for _, e := range b.Events {
		it := alert.Item{Check: e.Check, Since: e.Since.Local(), Summary: e.Summary, Advice: e.Advice,
			Label: e.Label, FromStatus: e.PreviousStatus, ToStatus: e.Status, Metrics: slices.Clone(e.Metrics),
			Lasted: time.Duration(math.Round(e.LastedSeconds * float64(time.Second)))}
		if it.Kind.UnmarshalText([]byte(e.Kind)) != nil {
			it.Kind = alert.KindProblem
		}
		if it.From.UnmarshalText([]byte(e.Previous)) != nil {
			it.From = collectors.StateUnknown
		}
		if it.To.UnmarshalText([]byte(e.State)) != nil {
			it.To = collectors.StateUnknown
		}
		d.Items = append(d.Items, it)
	}
	return d
}

// Mail is a mail rendered before it was queued.
type Mail struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
}

// Item is one queued delivery of a batch to one receiver, as stored in the
// receiver's queue folder: the batch's fields with the item's own.
type Item struct {
	// ID names the delivery and stays the same across attempts (the mail's
	// Message-ID, the webhook's X-Pbxagent-Delivery header), so that a
	// receiver can tell a repeat after a crash from a new event.
	ID string `json:"id,omitempty"`
	// Queued is when the item was queued (the mail's Date).
	Queued time.Time `json:"queued,omitzero"`
	// Mail is set only on the mails an earlier version queued, already
	// rendered (see mailer.ImportQueue): the email receiver sends it as it
	// is, with no events.
	Mail *Mail `json:"mail,omitempty"`
	Batch
}

// ReceiverEmail is the name of the email receiver (package mailer).
const ReceiverEmail = "email"

// Receiver is one way out for alert events.
type Receiver interface {
	// Name is the receiver's stable name: its queue folder and the
	// receiver label of the agent's metrics.
	Name() string
	// Send delivers one queued item; nil means the receiver accepted it.
	// An error wrapping ErrPermanent means retrying cannot help.
	Send(ctx context.Context, it Item) error
}

// ErrPermanent marks a refusal that retrying cannot fix (HTTP 4xx other
// than 408 and 429, an SMTP 5xx from every mail server).
var ErrPermanent = errors.New("refused permanently")

// Permanent reports whether an HTTP status is a permanent refusal.
func Permanent(status int) bool {
	return status >= 400 && status < 500 && status != 408 && status != 429
}
