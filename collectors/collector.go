// Package collectors holds the agent's checks of the PBX host: each one reads
// one aspect of the system (memory, mounts, PBX version, containers, ...) and
// returns a Report. The same collector feeds `pbxagent status`, the alert
// rules, metrics and the support bundle, so every check is written once.
//
// The list of checks is explicit and in one place, specs() in list.go; there
// is no init()-time registration and no global mutable state. Each entry is
// tagged TagSnapshot (facts for the bundle's host snapshot) or TagWatch
// (judged every round of `pbxagent run`, shown by `status`, alerted on and
// exported as metrics), or both.
//
// Adding a check (trunks, licence, certificates, ...) takes one file and one
// line:
//
//  1. In a new file (trunks.go, with trunks_test.go beside it), write a type
//     with Collect(ctx) (*Report, error) and a New... constructor taking what
//     it needs (config values, a clock, the REST API client). Return
//     noData("why") (wrapping ErrNoData) when the check does not apply to
//     this host; an error when it could not run; otherwise a Report with
//     State, a one-line Summary, Advice when not OK, and Metrics.
//  2. Add one line to specs(): the stable name, the tags and how to build it
//     from the Builder (b.Config, b.Now, b.apiCheck for checks of the PBX
//     REST API, b.StateOf to read an earlier check's verdict).
//
// Metrics: name each Metric <check>_<what>_<unit> in snake case, base units
// as the suffix (disk_free_bytes, disk_used_ratio, log_age_seconds); keep
// label values bounded (a role, a mount, a container name; never a Call-ID
// or a phone number). The metrics package exports a watcher's metrics as
// pbx_<name> and every check's state as pbx_check_state without extra code.
//
// Items: a check that watches several things of one kind (trunks, media
// servers, certificate ports) lists them in Report.Items with stable IDs,
// so the alert rules mail each change of each (ItemKey "trunks/carrier-a").
//
// Consumers read an Outcome only through its methods (State, Line, Advice,
// Metrics, Items, OwnState, Applicable, Failed), the one outcome vocabulary.
package collectors

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrNoData reports that a collector found nothing to report on this host
// (PortSIP not installed, Docker absent, ...). It is not a failure: the
// runner records it as "not applicable".
var ErrNoData = errors.New("no data")

// State is the health a collector reports, ordered from best to worst.
type State int

// States, ordered so that a larger value is worse.
const (
	StateOK State = iota
	StateWarning
	StateCritical
	StateUnknown
)

// String returns the upper-case name used in tables and emails.
func (s State) String() string {
	switch s {
	case StateOK:
		return "OK"
	case StateWarning:
		return "WARNING"
	case StateCritical:
		return "CRITICAL"
	default:
		return "UNKNOWN"
	}
}

// MarshalText encodes the state by name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state name.
func (s *State) UnmarshalText(b []byte) error {
	switch string(b) {
	case "OK":
		*s = StateOK
	case "WARNING":
		*s = StateWarning
	case "CRITICAL":
		*s = StateCritical
	case "UNKNOWN":
		*s = StateUnknown
	default:
		return fmt.Errorf("unknown state %q", b)
	}
	return nil
}

// Metric is one number a collector measured.
type Metric struct {
	Name  string            `json:"name"`
	Value float64           `json:"value"`
	Unit  string            `json:"unit,omitempty"`
	Label map[string]string `json:"labels,omitempty"`
}

// Report is what one collector returns.
type Report struct {
	// State is the health of what was checked; snapshot-only collectors
	// report StateOK.
	State State `json:"state"`
	// Summary is one line for people ("/var/lib/portsip: 91% used, 4.2 GiB free").
	Summary string `json:"summary"`
	// Metrics are the numbers behind the state.
	Metrics []Metric `json:"metrics,omitempty"`
	// Data is the full detail, encoded as JSON in bundles and `--json` output.
	Data any `json:"data,omitempty"`
	// Text is an optional multi-line readable rendering of Data for the
	// bundle's summary.
	Text string `json:"-"`
	// Sticky is the state computed with the clear levels (the trigger
	// levels minus a margin): a check already at Sticky or worse stays
	// there until its value falls below the clear level. It is the
	// hysteresis of the alert rules; zero (OK) means none.
	Sticky State `json:"sticky,omitempty"`
	// Advice tells the administrator what to do when State is not OK,
	// citing the PortSIP troubleshooting guide and the exact command,
	// e.g. "pbxagent logs prune --dry-run".
	Advice string `json:"advice,omitempty"`
	// Items are the things the check watches one by one (trunks, media
	// servers, transports, certificate ports), each with its own state, so
	// that the alert rules follow each of them: a second trunk going
	// offline while the first still is gets a mail of its own. A report
	// with items has State no better than its worst item.
	Items []Item `json:"items,omitempty"`
}

// Item is one thing a check watches on its own. Its alert key is the
// check's name, "/" and its ID (ItemKey): "trunks/carrier-a".
type Item struct {
	// ID is stable and unique within the check ("carrier-a", "5061").
	ID string `json:"id"`
	// Label names the thing for people: "Trunk carrier-a".
	Label string `json:"label"`
	// State is the item's health.
	State State `json:"state"`
	// Status is the item's state in its own words ("ONLINE", "OFFLINE",
	// "expires in 5 days"); mails show a change as "ONLINE → OFFLINE".
	Status string `json:"status"`
	// Summary is one line about the item; Advice, when set, what to do
	// about it (else the report's Advice applies).
	Summary string `json:"summary,omitempty"`
	Advice  string `json:"advice,omitempty"`
	// Unchecked marks an item the check knows of but did not judge this
	// round (more trunks than status requests a round): its alert state
	// stays as it was.
	Unchecked bool `json:"unchecked,omitempty"`
}

// ItemKey is the alert key of an item of a check: "trunks/carrier-a".
func ItemKey(check, id string) string { return check + "/" + id }

// Persister is a check that keeps state across restarts (the CDR cursor of
// call_failures). Collect only moves it in memory; the service (`pbxagent
// run`) saves it after each round with Persist, so one-off runs (`status`,
// `bundle`) never move what a later service start reads from.
type Persister interface {
	Persist() error
}

// Collector is one check of the host.
type Collector interface {
	// Collect reads the current state. It returns ErrNoData (possibly
	// wrapped) when there is nothing to report on this host.
	Collect(ctx context.Context) (*Report, error)
}

// Named pairs a collector with its stable name ("memory", "mounts", ...).
// The name is used for file names in bundles, metric labels and alert keys.
type Named struct {
	Name      string
	Collector Collector
}

// Outcome is the result of running one collector.
type Outcome struct {
	Name     string        `json:"name"`
	Report   *Report       `json:"report,omitempty"`
	Err      error         `json:"-"`
	Error    string        `json:"error,omitempty"`
	NoData   bool          `json:"no_data,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// The methods below are the one vocabulary of an outcome: `pbxagent status`,
// the alert rules, the metrics, the bundle's summary and the agent's log all
// read an outcome through them, so "failed", "not applicable" and a
// report's verdict mean the same everywhere.

// Success reports whether the collector ran without failing; ErrNoData counts
// as success.
func (o Outcome) Success() bool { return o.Err == nil || o.NoData }

// Applicable reports whether the check has something to judge on this host;
// an outcome without data (PortSIP not installed, Docker absent) is left out
// of the overall state, the alerts and the state metrics.
func (o Outcome) Applicable() bool { return !o.NoData && o.Name != "" }

// Failed reports whether the collector failed (it returned an error other
// than ErrNoData, or no report).
func (o Outcome) Failed() bool { return !o.NoData && (o.Err != nil || o.Report == nil) }

// State is the check's verdict: the report's state, StateUnknown for a
// failed check, StateOK for one that is not applicable.
func (o Outcome) State() State {
	switch {
	case o.NoData:
		return StateOK
	case o.Failed():
		return StateUnknown
	}
	return o.Report.State
}

// Sticky is the report's hysteresis state (see Report.Sticky); StateOK when
// there is no report or the value is out of range.
func (o Outcome) Sticky() State {
	if o.Failed() || o.NoData || o.Report.Sticky < StateOK || o.Report.Sticky > StateUnknown {
		return StateOK
	}
	return o.Report.Sticky
}

// Label is the state as shown in tables: the state's name, or "-" when the
// check is not applicable.
func (o Outcome) Label() string {
	if o.NoData {
		return "-"
	}
	return o.State().String()
}

// Line is the one line for people: the report's summary, "check failed:
// <error>" or "not applicable: <reason>".
func (o Outcome) Line() string {
	switch {
	case o.NoData:
		return "not applicable: " + o.Reason()
	case o.Err != nil:
		return "check failed: " + o.Err.Error()
	case o.Report == nil:
		if o.Error != "" {
			return "check failed: " + o.Error
		}
		return "check failed: no report"
	}
	return o.Report.Summary
}

// Advice is what the administrator should do, when the state is not OK;
// empty otherwise.
func (o Outcome) Advice() string {
	if o.Failed() || o.NoData || o.Report.State == StateOK {
		return ""
	}
	return o.Report.Advice
}

// Metrics are the numbers behind the state; none when the check failed or
// is not applicable.
func (o Outcome) Metrics() []Metric {
	if o.Failed() || o.NoData {
		return nil
	}
	return o.Report.Metrics
}

// Items are the report's items; none when the check failed or is not
// applicable (the items then keep their alert state).
func (o Outcome) Items() []Item {
	if o.Failed() || o.NoData {
		return nil
	}
	return o.Report.Items
}

// OwnState is the check's state beyond what its items explain: State for a
// check without items or one that failed; for a report with items, its
// State when that is worse than every item (a problem of the check as a
// whole), otherwise OK, as the alert rules follow the items one by one.
func (o Outcome) OwnState() State {
	items := o.Items()
	if len(items) == 0 {
		return o.State()
	}
	worst := StateOK
	for _, it := range items {
		if !it.Unchecked && it.State.Rank() > worst.Rank() {
			worst = it.State
		}
	}
	if s := o.State(); s.Rank() > worst.Rank() {
		return s
	}
	return StateOK
}

// Text is the report's multi-line rendering of its data, if any.
func (o Outcome) Text() string {
	if o.Failed() || o.NoData {
		return ""
	}
	return o.Report.Text
}

// Reason is the error for people: for a collector without data, why it is
// not applicable, without the ": no data" of the sentinel it wraps.
func (o Outcome) Reason() string {
	return strings.TrimSuffix(o.Error, ": "+ErrNoData.Error())
}

// Run executes all collectors concurrently, each bounded by timeout (0 means
// no per-collector timeout beyond ctx), and returns their outcomes in the
// order of list. A panicking collector is recorded as failed, not fatal.
func Run(ctx context.Context, list []Named, timeout time.Duration) []Outcome {
	out := make([]Outcome, len(list))
	var wg sync.WaitGroup
	for i, n := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = runOne(ctx, n, timeout)
		}()
	}
	wg.Wait()
	return out
}

func runOne(ctx context.Context, n Named, timeout time.Duration) (o Outcome) {
	o.Name = n.Name
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	start := time.Now()
	defer func() {
		o.Duration = time.Since(start)
		if r := recover(); r != nil {
			o.Report = nil
			o.Err = fmt.Errorf("collector %s panicked: %v", n.Name, r)
		}
		if o.Err != nil {
			o.NoData = errors.Is(o.Err, ErrNoData)
			o.Error = o.Err.Error()
		}
	}()
	rep, err := collectAbandoning(ctx, n)
	if err == nil && rep == nil {
		err = fmt.Errorf("collector %s returned no report", n.Name)
	}
	o.Report, o.Err = rep, err
	return o
}

// collectAbandoning runs the collector in a goroutine of its own and stops
// waiting when ctx ends: a collector stuck in a system call (a hung NFS
// mount, a FIFO) is abandoned and recorded as timed out, and the run goes
// on. The goroutine finishes on its own when the call returns.
func collectAbandoning(ctx context.Context, n Named) (*Report, error) {
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("collector %s panicked: %v", n.Name, r)}
			}
		}()
		rep, err := n.Collector.Collect(ctx)
		done <- result{rep, err}
	}()
	select {
	case r := <-done:
		return r.rep, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("collector %s timed out and was abandoned: %w", n.Name, context.Cause(ctx))
	}
}

// severity ranks the states for Worst: CRITICAL outranks UNKNOWN, as
// monitoring systems (Nagios, Icinga) read a plugin's result.
var severity = [...]int{StateOK: 0, StateWarning: 1, StateUnknown: 2, StateCritical: 3}

// Rank is the state's severity for aggregation: OK < WARNING < UNKNOWN <
// CRITICAL. A state out of range ranks as UNKNOWN.
func (s State) Rank() int {
	if s < StateOK || s > StateUnknown {
		return severity[StateUnknown]
	}
	return severity[s]
}

// pluginCode are the Nagios plugin exit codes of the states.
var pluginCode = [...]int{StateOK: 0, StateWarning: 1, StateCritical: 2, StateUnknown: 3}

// Code is the state's Nagios/Icinga plugin code: 0 OK, 1 WARNING,
// 2 CRITICAL, 3 UNKNOWN. It is also the value of the pbx_check_state metric.
func (s State) Code() int {
	if s < StateOK || s > StateUnknown {
		return pluginCode[StateUnknown]
	}
	return pluginCode[s]
}

// Worst returns the most severe state among outcomes by Rank (so CRITICAL
// wins over UNKNOWN); failed collectors count as StateUnknown, collectors
// without data are ignored.
func Worst(outs []Outcome) State {
	w := StateOK
	for _, o := range outs {
		if !o.Applicable() {
			continue
		}
		if s := o.State(); s.Rank() > w.Rank() {
			w = s
		}
	}
	return w
}

// Names returns the sorted names of a collector list.
func Names(list []Named) []string {
	names := make([]string, len(list))
	for i, n := range list {
		names[i] = n.Name
	}
	sort.Strings(names)
	return names
}
