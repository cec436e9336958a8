// Package alert is the rule engine of `pbxagent run`: one engine over all
// checks decides when the administrator is told (by email and the other
// receivers of package notify). It turns the collectors' outcomes of each
// round into state changes (with hysteresis and a number of consecutive
// rounds, so that a value hovering around a level does not flap), groups
// changes close together into one digest, reminds while a check keeps
// failing and announces recoveries with how long the problem lasted.
//
// The engine is pure logic driven by the caller's clock; it never sends
// anything itself. Checks that report items (trunks, media servers, transports,
// certificate ports, call-failure bursts) are followed item by item under
// keys such as "trunks/carrier-a", with the same rules, so every trunk's
// change is a change of its own. Its state is saved to a JSON file in the
// state folder after every change, so that a restart neither re-sends nor
// forgets.
package alert

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/atomicfile"
)

// StateFileName is the name of the engine's state file in the state folder.
const StateFileName = "alert-state.json"

// stateVersion is the format version of the state file.
const stateVersion = 1

// Options configures an Engine.
type Options struct {
	// Host names the machine in subjects and bodies ("pbx1").
	Host string
	// Alerts holds the rule settings: Consecutive (values below 1 count as
	// 1), Reminder (0 disables reminders) and Digest (0 sends at once).
	// QueueMax is not used by the engine.
	Alerts config.Alerts
	// StateDir is the folder of the state file; empty keeps the state in
	// memory only.
	StateDir string
	// Log receives persistence problems; nil discards them.
	Log *slog.Logger
}

// Engine is the alert rule engine. Its methods are safe for concurrent use.
type Engine struct {
	host        string
	consecutive int
	reminder    time.Duration
	digest      time.Duration
	path        string
	log         *slog.Logger

	mu sync.Mutex
	st persisted
	// round counts Observe calls since start; checks seen in the latest
	// round carry it in seenRound (not persisted).
	round     int
	seenRound map[string]int
}

// persisted is the content of the state file.
type persisted struct {
	Version int                    `json:"version"`
	Checks  map[string]*checkState `json:"checks"`
	// WindowStart is when the oldest pending item was added; zero when
	// nothing waits to be sent.
	WindowStart time.Time `json:"window_start,omitzero"`
}

// checkState is what the engine remembers about one check.
type checkState struct {
	// State is the committed alert state, the one the administrator was
	// (or is about to be) told about.
	State collectors.State `json:"state"`
	// Since is when State was first seen (the first round of the streak
	// that committed it).
	Since time.Time `json:"since,omitzero"`
	// ProblemSince is when the current non-OK episode began; zero while OK.
	ProblemSince time.Time `json:"problem_since,omitzero"`
	// Level is the latest effective state measured by a report (UNKNOWN
	// rounds leave it alone): the reference of the hysteresis.
	Level collectors.State `json:"level"`
	// Candidate and Count track the streak of rounds that differ from State
	// in the same direction; CandidateSince is the streak's first round.
	Candidate      collectors.State `json:"candidate"`
	Count          int              `json:"count,omitempty"`
	CandidateSince time.Time        `json:"candidate_since,omitzero"`
	// LastMailed is when a digest last included this check.
	LastMailed time.Time `json:"last_mailed,omitzero"`
	// Pending is the item waiting in the current digest window.
	Pending *Item `json:"pending,omitempty"`

	// Label names an item for people ("Trunk carrier-a"); empty for a
	// check. Status is the item's latest state in its own words
	// ("OFFLINE") and StateStatus its words when State was committed.
	Label       string `json:"label,omitempty"`
	Status      string `json:"status,omitempty"`
	StateStatus string `json:"state_status,omitempty"`

	// Latest report details, shown in mails.
	Summary string              `json:"summary,omitempty"`
	Advice  string              `json:"advice,omitempty"`
	Metrics []collectors.Metric `json:"metrics,omitempty"`
	Seen    time.Time           `json:"seen,omitzero"`
}

// New returns an engine, loading the saved state from opts.StateDir when
// there is one. A missing state file means a fresh start; an unreadable or
// corrupt one is logged and replaced, because alerting must go on.
func New(opts Options) (*Engine, error) {
	e := &Engine{
		host:        opts.Host,
		consecutive: max(opts.Alerts.Consecutive, 1),
		reminder:    max(opts.Alerts.Reminder.D(), 0),
		digest:      max(opts.Alerts.Digest.D(), 0),
		log:         opts.Log,
		st:          persisted{Version: stateVersion, Checks: map[string]*checkState{}},
		seenRound:   map[string]int{},
	}
	if e.host == "" {
		e.host, _ = os.Hostname()
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if opts.StateDir == "" {
		return e, nil
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create alert state folder: %w", err)
	}
	e.path = filepath.Join(opts.StateDir, StateFileName)
	b, err := os.ReadFile(e.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return e, nil
	case err != nil:
		e.log.Warn("cannot read alert state; starting fresh", "path", e.path, "error", err)
		return e, nil
	}
	var st persisted
	if err := json.Unmarshal(b, &st); err != nil || st.Version != stateVersion {
		if err == nil {
			err = fmt.Errorf("unsupported version %d", st.Version)
		}
		e.log.Warn("alert state is unusable; starting fresh", "path", e.path, "error", err)
		return e, nil
	}
	if st.Checks == nil {
		st.Checks = map[string]*checkState{}
	}
	for name, c := range st.Checks {
		if c == nil {
			delete(st.Checks, name)
		}
	}
	e.st = st
	return e, nil
}

// SetAlerts applies new rule settings (a configuration reload) and keeps
// everything the engine remembers about the checks.
func (e *Engine) SetAlerts(a config.Alerts) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.consecutive = max(a.Consecutive, 1)
	e.reminder = max(a.Reminder.D(), 0)
	e.digest = max(a.Digest.D(), 0)
}

// Observe feeds one round of outcomes into the engine at time now. Outcomes
// without data are ignored (a component that is not installed is not a
// failure); a failed collector counts as UNKNOWN with its error as summary.
// The effective state of a check is max(State, min(level, Sticky)), where
// level is its previous effective state: a check stays in its state until
// the value falls below the clear level. A state change is committed once
// the effective state has differed from the alert state, in the same
// direction, Consecutive rounds in a row, for worsening and for recovery
// alike; the committed state is the mildest one seen in those rounds, so
// that a check alternating between WARNING and CRITICAL is WARNING.
//
// The returned error only reports that the state could not be saved; the
// engine keeps working in memory.
func (e *Engine) Observe(now time.Time, outs []collectors.Outcome) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.round++
	dirty := false
	for _, o := range outs {
		if !o.Applicable() {
			continue
		}
		state, sticky := clampState(o.OwnState()), o.Sticky()
		if state != clampState(o.State()) {
			sticky = collectors.StateOK // the items carry the problem
		}
		summary, advice, metrics := o.Line(), o.Advice(), slices.Clone(o.Metrics())
		c := e.entry(o.Name, &dirty)
		e.seenRound[o.Name] = e.round
		c.Summary, c.Advice, c.Metrics, c.Seen = summary, advice, metrics, now
		if e.step(now, o.Name, c, max(state, min(c.Level, sticky))) {
			dirty = true
		}
		if !o.Failed() && e.observeItems(now, o) {
			dirty = true
		}
	}
	if e.addReminders(now) {
		dirty = true
	}
	if dirty {
		return e.save()
	}
	return nil
}

// entry returns the state of key, created OK when new.
func (e *Engine) entry(key string, dirty *bool) *checkState {
	c := e.st.Checks[key]
	if c == nil {
		c = &checkState{State: collectors.StateOK, Level: collectors.StateOK, Candidate: collectors.StateOK}
		e.st.Checks[key] = c
		*dirty = true
	}
	return c
}

// goneStatus is the status of an item its check no longer reports (a
// trunk deleted): it counts as OK, so a problem on it recovers through the
// usual rules, and it is forgotten once OK.
const goneStatus = "no longer reported"

// observeItems steps every item of a check that ran, under its key
// ("trunks/carrier-a"), with the same rules as a check. An item the check
// did not judge this round keeps its state; one it no longer reports
// counts as OK and is forgotten once its alert state is OK.
func (e *Engine) observeItems(now time.Time, o collectors.Outcome) bool {
	dirty := false
	seen := map[string]bool{}
	for _, it := range o.Items() {
		key := collectors.ItemKey(o.Name, it.ID)
		if seen[key] {
			continue
		}
		seen[key] = true
		c := e.entry(key, &dirty)
		e.seenRound[key] = e.round
		if it.Unchecked {
			continue
		}
		state := clampState(it.State)
		advice := ""
		if state != collectors.StateOK {
			advice = cmp.Or(it.Advice, o.Advice())
		}
		c.Label, c.Status, c.Summary, c.Advice, c.Metrics, c.Seen = it.Label, it.Status, it.Summary, advice, nil, now
		if e.stepItem(now, key, c, state) {
			dirty = true
		}
	}
	prefix := collectors.ItemKey(o.Name, "")
	for key, c := range e.st.Checks {
		if seen[key] || !strings.HasPrefix(key, prefix) {
			continue
		}
		if c.State == collectors.StateOK && c.Count == 0 && c.Pending == nil {
			delete(e.st.Checks, key)
			dirty = true
			continue
		}
		e.seenRound[key] = e.round
		c.Status, c.Summary, c.Advice, c.Seen = goneStatus, c.Label+": "+goneStatus+" by the "+o.Name+" check", "", now
		if e.stepItem(now, key, c, collectors.StateOK) {
			dirty = true
		}
	}
	return dirty
}

// stepItem steps an item; while its state holds, its words for the state
// follow its latest status (so a change reads "ONLINE → OFFLINE").
func (e *Engine) stepItem(now time.Time, key string, c *checkState, eff collectors.State) bool {
	dirty := e.step(now, key, c, eff)
	if c.State == eff && c.Count == 0 && c.StateStatus != c.Status {
		c.StateStatus, dirty = c.Status, true
	}
	return dirty
}

// step advances one check by one round with effective state eff and
// reports whether persisted state changed.
func (e *Engine) step(now time.Time, name string, c *checkState, eff collectors.State) bool {
	dirty := false
	if eff != collectors.StateUnknown && eff != c.Level {
		c.Level, dirty = eff, true
	}
	if eff == c.State {
		if c.Count != 0 {
			c.Count, c.Candidate, c.CandidateSince = 0, c.State, time.Time{}
			dirty = true
		}
		return dirty
	}
	worse := eff > c.State
	switch {
	case c.Count > 0 && (c.Candidate > c.State) == worse:
		// Same direction as the running streak: the candidate is the
		// state seen in every round of it (the mildest change).
		c.Count++
		if worse {
			c.Candidate = min(c.Candidate, eff)
		} else {
			c.Candidate = max(c.Candidate, eff)
		}
	default:
		c.Count, c.Candidate, c.CandidateSince = 1, eff, now
	}
	if c.Count >= e.consecutive {
		e.commit(now, name, c)
	}
	return true
}

// commit makes the candidate the check's alert state and queues the change.
func (e *Engine) commit(now time.Time, name string, c *checkState) {
	from, to, since := c.State, c.Candidate, c.CandidateSince
	if since.IsZero() {
		since = now
	}
	var lasted time.Duration
	switch {
	case from == collectors.StateOK:
		c.ProblemSince = since
	case to == collectors.StateOK:
		if !c.ProblemSince.IsZero() {
			lasted = max(since.Sub(c.ProblemSince), 0)
		}
		c.ProblemSince = time.Time{}
	}
	c.State, c.Since = to, since
	c.Count, c.Candidate, c.CandidateSince = 0, to, time.Time{}
	fromStatus := c.StateStatus
	c.StateStatus = c.Status

	kind := KindProblem
	if to == collectors.StateOK {
		kind = KindRecovery
	}
	if p := c.Pending; p != nil && p.Kind != KindReminder {
		// A change still waiting in the window: merge, keeping the
		// original starting point.
		from, fromStatus = p.From, p.FromStatus
		if from == to {
			// Back where it was before anyone was told: nothing to say.
			c.Pending = nil
			e.resetWindowIfEmpty()
			return
		}
		if to != collectors.StateOK {
			kind = KindProblem
		}
	}
	c.Pending = &Item{Check: name, Kind: kind, From: from, To: to, Since: since, Lasted: lasted,
		FromStatus: fromStatus, ToStatus: c.Status}
	e.openWindow(now)
}

// addReminders queues a reminder for every check that has stayed non-OK for
// Reminder since it was last mailed and was seen in the latest round.
func (e *Engine) addReminders(now time.Time) bool {
	if e.reminder <= 0 {
		return false
	}
	added := false
	for name, c := range e.st.Checks {
		if c.State == collectors.StateOK || c.Pending != nil || c.LastMailed.IsZero() ||
			e.seenRound[name] != e.round || now.Sub(c.LastMailed) < e.reminder {
			continue
		}
		c.Pending = &Item{Check: name, Kind: KindReminder, From: c.State, To: c.State, Since: c.Since}
		e.openWindow(now)
		added = true
	}
	return added
}

func (e *Engine) openWindow(now time.Time) {
	if e.st.WindowStart.IsZero() {
		e.st.WindowStart = now
	}
}

func (e *Engine) resetWindowIfEmpty() {
	for _, c := range e.st.Checks {
		if c.Pending != nil {
			return
		}
	}
	e.st.WindowStart = time.Time{}
}

// Due returns the digest to send at now, or nil when there is nothing to
// send yet: a digest is produced once the oldest pending change has waited
// Digest for more changes to join it. The checks in it count as mailed from
// now on (the caller queues the digest for the receivers, whose durable
// queues survive outages on their own).
// A failure to save the state is logged; the digest is still returned.
func (e *Engine) Due(now time.Time) *Digest {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st.WindowStart.IsZero() || now.Sub(e.st.WindowStart) < e.digest {
		return nil
	}
	d := &Digest{Host: e.host, Time: now}
	for _, c := range e.st.Checks {
		if c.Pending == nil {
			continue
		}
		it := *c.Pending
		if it.Kind == KindReminder {
			it.From, it.To, it.Since = c.State, c.State, c.Since
			it.FromStatus, it.ToStatus = c.StateStatus, c.StateStatus
		}
		it.Label = c.Label
		if it.To != collectors.StateOK && !c.ProblemSince.IsZero() {
			it.Lasted = max(now.Sub(c.ProblemSince), 0)
		}
		it.Summary, it.Advice, it.Metrics = c.Summary, c.Advice, slices.Clone(c.Metrics)
		d.Items = append(d.Items, it)
		c.Pending = nil
		c.LastMailed = now
	}
	e.st.WindowStart = time.Time{}
	if err := e.save(); err != nil {
		e.log.Warn("cannot save alert state", "error", err)
	}
	if len(d.Items) == 0 {
		return nil
	}
	d.sort()
	return d
}

// CheckStatus is the alert state of one check, for status displays.
type CheckStatus struct {
	// Check is the collector's name.
	Check string
	// State is the committed alert state; Since is when it began.
	State collectors.State
	Since time.Time
	// LastMailed is when a mail last mentioned the check (zero if never).
	LastMailed time.Time
}

// Status returns the alert state of every known check, sorted by name.
func (e *Engine) Status() []CheckStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]CheckStatus, 0, len(e.st.Checks))
	for name, c := range e.st.Checks {
		out = append(out, CheckStatus{Check: name, State: c.State, Since: c.Since, LastMailed: c.LastMailed})
	}
	slices.SortFunc(out, func(a, b CheckStatus) int {
		switch {
		case a.Check < b.Check:
			return -1
		case a.Check > b.Check:
			return 1
		}
		return 0
	})
	return out
}

// save writes the state file atomically (mode 0600); without a state
// folder it does nothing.
func (e *Engine) save() error {
	if e.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(&e.st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode alert state: %w", err)
	}
	if err := atomicfile.Write(e.path, b, 0o600); err != nil {
		return fmt.Errorf("save alert state: %w", err)
	}
	return nil
}

// clampState maps out-of-range states to UNKNOWN.
func clampState(s collectors.State) collectors.State {
	if s < collectors.StateOK || s > collectors.StateUnknown {
		return collectors.StateUnknown
	}
	return s
}
