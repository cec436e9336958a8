package collectors

import (
	"fmt"
	"strings"
)

func (c *CallFailures) advice(code int) CodeAdvice { return c.guide(code) }

func (c *CallFailures) report(d CallFailuresData) *Report {
	rep := &Report{State: StateOK, Data: d, Metrics: []Metric{
		{Name: "cdrs_read", Value: float64(d.NewCDRs)},
		{Name: "calls_in_window", Value: float64(d.Calls)},
		{Name: "calls_failed_in_window", Value: float64(d.Failed)},
		{Name: "call_failure_bursts", Value: float64(len(d.Bursts))},
		{Name: "call_failures_api_requests", Value: float64(d.Requests)},
	}}
	if len(d.Bursts) == 0 {
		rep.Summary = fmt.Sprintf("%d calls in the last %s, %d failed; no burst", d.Calls, d.Window, d.Failed)
		if d.Truncated {
			rep.Summary += fmt.Sprintf(" (read the cap of %d pages of new CDRs this round; older new ones, if any, were not examined)", c.cfg.MaxPagesPerRound)
		}
		return rep
	}
	rep.State = StateCritical
	parts := make([]string, 0, len(d.Bursts))
	var advice []string
	for _, b := range d.Bursts {
		line := burstLine(b, d.Window)
		parts = append(parts, line)
		ba := c.guideText(b)
		if b.Code == 403 && c.licence != nil {
			st, sum := c.licence()
			ba += fmt.Sprintf("\n\nThe licence check (%s): %s", st, sum)
		}
		advice = append(advice, ba)
		// Each burst is an alert item: a second one while the first
		// lasts is a mail of its own.
		rep.Items = append(rep.Items, Item{ID: fmt.Sprintf("%d %s", b.Code, b.Scope), Label: fmt.Sprintf("Calls failing with %s on %s", codeTitle(b), b.Scope),
			State: StateCritical, Status: fmt.Sprintf("%d of %d in %s", b.Failed, b.Calls, d.Window), Summary: line, Advice: ba + bundleHint})
	}
	rep.Summary = strings.Join(parts, "; ")
	rep.Advice = strings.Join(advice, "\n\n") + bundleHint
	rep.Text = strings.Join(parts, "\n") + "\n"
	return rep
}

// burstLine is one burst for people: `12 calls failed with 403 Forbidden on
// trunk "carrier-a" in the last 10m (of 15; e.g. ***1234, ***5678)`.
func burstLine(b Burst, window string) string {
	s := fmt.Sprintf("%d calls failed with %s on %s in the last %s (of %d calls", b.Failed, codeTitle(b), b.Scope, window, b.Calls)
	if len(b.Examples) > 0 {
		s += "; e.g. " + strings.Join(b.Examples, ", ")
	}
	return s + ")"
}

// bundleHint ends the advice of a burst.
const bundleHint = "\n\nA support bundle (pbxagent bundle --duration 60s) captures the SIP exchange of the next failing calls."

// codeTitle is a burst's status code with the guide's title: "403 Forbidden".
func codeTitle(b Burst) string {
	if b.Title == "" {
		return fmt.Sprint(b.Code)
	}
	if !strings.Contains(b.Title, fmt.Sprint(b.Code)) {
		return fmt.Sprintf("%d %s", b.Code, b.Title)
	}
	return b.Title
}

// guideText renders the guide's causes and remedies for a burst.
func (c *CallFailures) guideText(b Burst) string {
	a := c.advice(b.Code)
	var s strings.Builder
	title := a.Title
	if title == "" {
		title = fmt.Sprint(b.Code)
	}
	fmt.Fprintf(&s, "%s on %s — PortSIP troubleshooting guide:", title, b.Scope)
	if len(a.Causes) == 0 && len(a.Remedies) == 0 {
		s.WriteString("\n  no entry for this code; look up the status in callmanager.log for these calls.")
		return s.String()
	}
	if len(a.Causes) > 0 {
		s.WriteString("\n  Possible causes:")
		for _, x := range a.Causes {
			s.WriteString("\n  - " + x)
		}
	}
	if len(a.Remedies) > 0 {
		s.WriteString("\n  What to do:")
		for _, x := range a.Remedies {
			s.WriteString("\n  - " + x)
		}
	}
	if a.NextCheck != "" {
		s.WriteString("\n  Next check: " + a.NextCheck)
	}
	return s.String()
}

// maskNumber keeps the last keep digits of a number: "+4915112345678" →
// "***5678". A number with no more than keep digits is masked whole.
func maskNumber(n string, keep int) string {
	var digits []rune
	for _, r := range n {
		if r >= '0' && r <= '9' {
			digits = append(digits, r)
		}
	}
	if len(digits) == 0 {
		return ""
	}
	if len(digits) <= keep {
		return strings.Repeat("*", len(digits))
	}
	return "***" + string(digits[len(digits)-keep:])
}
