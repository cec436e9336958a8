// Package notify delivers the alert engine's events to receivers besides
// email: a Prometheus Alertmanager (POST /api/v2/alerts) and a generic JSON
// webhook with an HMAC-SHA256 signed body. Every receiver has its own
// durable queue on disk (internal/spool, the mail queue's too): an event
// leaves the queue only once the receiver accepted it, so neither a restart
// of the agent nor an outage of the receiver loses or repeats one.
package notify

import (
	"context"
	"errors"
	"time"

	"github.com/pbxagent/pbxagent/alert"
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
}

// Batch is the events of one alert digest of one host, the unit queued and
// delivered.
type Batch struct {
	Host   string    `json:"host"`
	Time   time.Time `json:"time"`
	Events []Event   `json:"events"`
}

// FromDigest turns an alert digest into a batch.
func FromDigest(d *alert.Digest) Batch {
	b := Batch{Host: d.Host, Time: d.Time.UTC()}
	for _, it := range d.Items {
		b.Events = append(b.Events, Event{Check: it.Check, Kind: it.Kind.String(), State: it.To.String(),
			Previous: it.From.String(), Since: it.Since.UTC(), LastedSeconds: it.Lasted.Seconds(),
			Summary: it.Summary, Advice: it.Advice})
	}
	return b
}

// Receiver is one way out for alert events besides email.
type Receiver interface {
	// Name is the receiver's stable name: its queue folder and the
	// receiver label of the agent's metrics.
	Name() string
	// Send delivers a batch; nil means the receiver accepted it. An error
	// wrapping ErrPermanent means retrying cannot help.
	Send(ctx context.Context, b Batch) error
}

// ErrPermanent marks a refusal that retrying cannot fix (HTTP 4xx other
// than 408 and 429).
var ErrPermanent = errors.New("refused permanently")

// Permanent reports whether an HTTP status is a permanent refusal.
func Permanent(status int) bool {
	return status >= 400 && status < 500 && status != 408 && status != 429
}
