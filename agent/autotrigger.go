package agent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/alert"
	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/config"
)

// autoRule is one entry of recorder.auto_bundle.checks: a check whose change
// to at least State takes a bundle.
type autoRule struct {
	check string
	min   collectors.State
}

// autoTrigger decides when an alert takes a bundle: the change must be a
// problem of a chosen check, at least the cool-down after the last bundle,
// and within the daily maximum (days in UTC). It is pure logic over the
// caller's clock; the caller serialises its use.
type autoTrigger struct {
	rules     []autoRule
	cooldown  time.Duration
	maxPerDay int
	last      time.Time
	day       string
	today     int
}

// newAutoTrigger builds the trigger from validated configuration.
func newAutoTrigger(c config.AutoBundle) *autoTrigger {
	t := &autoTrigger{cooldown: c.Cooldown.D(), maxPerDay: c.MaxPerDay}
	for _, s := range c.Checks {
		name, lvl, _ := strings.Cut(s, ":")
		r := autoRule{check: name, min: collectors.StateWarning}
		if lvl == "critical" {
			r.min = collectors.StateCritical
		}
		t.rules = append(t.rules, r)
	}
	return t
}

// match returns the problems among items that call for a bundle.
func (t *autoTrigger) match(items []alert.Item) []alert.Item {
	var out []alert.Item
	for _, it := range items {
		if it.Kind != alert.KindProblem {
			continue
		}
		i := slices.IndexFunc(t.rules, func(r autoRule) bool { return r.check == it.CheckName() })
		if i >= 0 && atLeast(it.To, t.rules[i].min) {
			out = append(out, it)
		}
	}
	return out
}

// atLeast reports whether s is as bad as min: UNKNOWN counts as a warning
// (a check that cannot tell is not proof of a critical state).
func atLeast(s, min collectors.State) bool {
	rank := map[collectors.State]int{collectors.StateOK: 0, collectors.StateWarning: 1, collectors.StateUnknown: 1, collectors.StateCritical: 2}
	return rank[s] >= rank[min]
}

// take reports whether a bundle may start at now and records it when it
// may; otherwise it says why not.
func (t *autoTrigger) take(now time.Time) (bool, string) {
	day := now.UTC().Format(time.DateOnly)
	if day != t.day {
		t.day, t.today = day, 0
	}
	if !t.last.IsZero() && now.Sub(t.last) < t.cooldown {
		return false, fmt.Sprintf("within the cool-down: the last bundle was taken %s ago (recorder.auto_bundle.cooldown %s)",
			now.Sub(t.last).Round(time.Second), t.cooldown)
	}
	if t.today >= t.maxPerDay {
		return false, fmt.Sprintf("%d bundles taken today already (recorder.auto_bundle.max_per_day)", t.today)
	}
	t.last = now
	t.today++
	return true, ""
}

// seed restores the trigger's memory from the bundles already taken (their
// times), so a restart neither forgets the cool-down nor the day's count.
func (t *autoTrigger) seed(now time.Time, taken []time.Time) {
	t.day = now.UTC().Format(time.DateOnly)
	for _, at := range taken {
		if at.After(now) {
			continue
		}
		if at.After(t.last) {
			t.last = at
		}
		if at.UTC().Format(time.DateOnly) == t.day {
			t.today++
		}
	}
}

// reconfigure applies reloaded settings, keeping the memory of the bundles
// taken (the cool-down and the day's count go on).
func (t *autoTrigger) reconfigure(c config.AutoBundle) {
	n := newAutoTrigger(c)
	n.last, n.day, n.today = t.last, t.day, t.today
	*t = *n
}
