// Package collectors holds the agent's checks of the PBX host: each one reads
// one aspect of the system (memory, mounts, PBX version, containers, ...) and
// returns a Report. The same collector feeds `pbxagent status`, the alert
// rules, metrics and the support bundle, so every check is written once.
//
// The list of collectors is explicit (see list.go); there is no init()-time
// registration and no global mutable state.
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

// Success reports whether the collector ran without failing; ErrNoData counts
// as success.
func (o Outcome) Success() bool { return o.Err == nil || o.NoData }

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
	rep, err := n.Collector.Collect(ctx)
	if err == nil && rep == nil {
		err = fmt.Errorf("collector %s returned no report", n.Name)
	}
	o.Report, o.Err = rep, err
	return o
}

// Worst returns the worst state among outcomes; failed collectors count as
// StateUnknown, collectors without data are ignored.
func Worst(outs []Outcome) State {
	w := StateOK
	for _, o := range outs {
		s := StateUnknown
		switch {
		case o.NoData:
			continue
		case o.Err == nil:
			s = o.Report.State
		}
		if s > w {
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
