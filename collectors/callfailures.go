package collectors

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/guide"
	"github.com/pbxagent/pbxagent/portsip"
)

// Bounds of the call_failures check.
const (
	cdrPageSize = 100   // the documented maximum of top
	maxEvents   = 20000 // calls kept for the window; older ones are dropped first
	maxExamples = 3     // example numbers per burst
	// maxCursorFile bounds the cursor file read back: maxEvents of about
	// 80 bytes each, with room to spare.
	maxCursorFile = 8 << 20
)

// CodeAdvice is what PortSIP's troubleshooting guide says about one SIP
// status code.
type CodeAdvice struct {
	Title     string
	Causes    []string
	Remedies  []string
	NextCheck string
	// Benign codes (busy, declined, cancelled) are no failure of the system.
	Benign bool
}

// StatusGuide looks up a status code in the troubleshooting guide.
type StatusGuide func(code int) CodeAdvice

// GuideAdvice is PortSIP's troubleshooting guide (package guide) on a
// status code: the same table the capture analysis cites.
func GuideAdvice(code int) CodeAdvice {
	e := guide.ForStatus(code)
	a := CodeAdvice{Title: e.Title, Remedies: e.Remedies, NextCheck: e.NextCheck, Benign: e.Benign}
	for _, c := range e.Causes {
		a.Causes = append(a.Causes, c.Text)
	}
	return a
}

// CallFailures reads new CDRs (GET /cdrs) incrementally and reports a burst
// of failed calls: at least MinFailures calls, or MinPercent of at least
// MinCalls calls, ending with the same status code on the same trunk (or,
// for calls without a trunk, the same tenant domain) within Window — e.g. 10
// calls answered 403 on trunk "carrier-a" in 10 minutes. The report names
// the code, the trunk, a few example numbers masked to their last digits,
// and the guide's causes and next steps for the code.
//
// CDRs are read newest first (as the portal lists them; if the PBX lists
// them oldest first, the pages are read from the end) until the last CDR
// seen, at most MaxPagesPerRound pages a round.
type CallFailures struct {
	client   *portsip.Client
	cfg      config.CallFailuresCheck
	stateDir string
	guide    StatusGuide
	now      func() time.Time
	licence  func() (State, string) // the licence check's verdict, or nil

	mu     sync.Mutex
	loaded bool
	cur    cdrCursor // cur.Events: oldest first, at most maxEvents
}

// callEvent is one call in the window.
type callEvent struct {
	At     time.Time `json:"t"`
	Scope  string    `json:"s"` // `trunk "carrier-a"` or `tenant "example.com"`
	Code   int       `json:"c"`
	Failed bool      `json:"f,omitempty"`
	Number string    `json:"n,omitempty"` // masked
}

// NewCallFailures returns the failing-calls check. stateDir holds the
// cursor ("" keeps it in memory); guide nil is GuideAdvice; now nil is
// time.Now.
func NewCallFailures(client *portsip.Client, cfg config.CallFailuresCheck, stateDir string, guide StatusGuide, now func() time.Time) *CallFailures {
	if now == nil {
		now = time.Now
	}
	if guide == nil {
		guide = GuideAdvice
	}
	return &CallFailures{client: client, cfg: cfg, stateDir: stateDir, guide: guide, now: now}
}

// WithLicence lets a 403 burst cite the licence check's verdict: the guide's
// first cause of 403 is "the current usage exceeds the PBX licence".
func (c *CallFailures) WithLicence(state func() (State, string)) *CallFailures {
	c.licence = state
	return c
}

// Burst is one burst of failures.
type Burst struct {
	Scope    string   `json:"scope"`
	Code     int      `json:"status_code"`
	Title    string   `json:"title,omitempty"`
	Failed   int      `json:"failed"`
	Calls    int      `json:"calls"`
	Examples []string `json:"examples,omitempty"`
}

// CallFailuresData is the call_failures check's Data.
type CallFailuresData struct {
	Window   string  `json:"window"`
	NewCDRs  int     `json:"new_cdrs"`
	Calls    int     `json:"calls_in_window"`
	Failed   int     `json:"failed_in_window"`
	Bursts   []Burst `json:"bursts,omitempty"`
	Requests int     `json:"requests"`
	// Truncated is set when a round met more new CDRs than it may read;
	// the older ones of them were not examined.
	Truncated bool `json:"truncated,omitempty"`
	// Baseline is set on the first round without a cursor, which reads
	// only the last Window of calls.
	Baseline bool `json:"baseline,omitempty"`
}

// Collect reads the new CDRs and rates the window.
func (c *CallFailures) Collect(ctx context.Context) (*Report, error) {
	if err := apiNotApplicable(c.client, "failing calls"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		c.cur = c.loadCursor()
		c.loaded = true
	}
	now := c.now()
	window := c.cfg.Window.D()
	before := c.client.Requests()
	d := CallFailuresData{Window: config.Duration(window).String(), Baseline: c.cur.At.IsZero()}
	fresh, truncated, err := c.read(ctx, now.Add(-window))
	if err != nil {
		return nil, apiError(err, "the call records (CDRs)")
	}
	d.NewCDRs, d.Truncated = len(fresh), truncated
	c.add(fresh)
	c.prune(now.Add(-window))
	d.Requests = int(c.client.Requests() - before)
	d.Calls = len(c.cur.Events)
	d.Bursts = c.bursts(&d.Failed)
	return c.report(d), nil
}

// read returns the CDRs newer than the cursor (or, without one, ended
// after floor), newest first.
func (c *CallFailures) read(ctx context.Context, floor time.Time) ([]portsip.CDR, bool, error) {
	if !c.cur.At.IsZero() {
		floor = c.cur.At
	}
	seen := map[string]bool{}
	for _, id := range c.cur.IDs {
		seen[id] = true
	}
	maxPages := max(c.cfg.MaxPagesPerRound, 1)
	var out []portsip.CDR
	fromEnd, total := false, -1
	for page := range maxPages {
		skip, top := page*cdrPageSize, cdrPageSize
		if fromEnd {
			skip = total - (page+1)*cdrPageSize
			if skip <= -cdrPageSize {
				return out, false, nil
			}
			if skip < 0 {
				top, skip = top+skip, 0
			}
		}
		items, n, err := c.client.CDRPage(ctx, skip, top)
		if err != nil {
			return nil, false, err
		}
		if page == 0 && ascending(items) && n > len(items) {
			// Oldest first: read from the end instead.
			fromEnd, total = true, n
			skip, top = max(n-cdrPageSize, 0), min(cdrPageSize, n)
			if items, _, err = c.client.CDRPage(ctx, skip, top); err != nil {
				return nil, false, err
			}
		}
		if fromEnd || ascending(items) {
			slices.Reverse(items)
		}
		var done bool
		out, done = appendNew(out, items, floor, seen)
		if done || len(items) < top || fromEnd && skip == 0 {
			return out, false, nil
		}
	}
	return out, true, nil
}

// appendNew appends the CDRs of a page, newest first, that are newer than
// floor and not seen before, and reports whether the page reached floor.
func appendNew(out, items []portsip.CDR, floor time.Time, seen map[string]bool) ([]portsip.CDR, bool) {
	done := false
	for _, r := range items {
		at := cdrTime(r)
		if at.Before(floor) || (at.Equal(floor) && seen[r.ID]) {
			done = true
			continue
		}
		if r.ID != "" {
			if seen[r.ID] {
				continue // shifted into this page by a new CDR
			}
			seen[r.ID] = true
		}
		out = append(out, r)
	}
	return out, done
}

// ascending reports whether a page lists CDRs oldest first.
func ascending(items []portsip.CDR) bool {
	return len(items) > 1 && cdrTime(items[0]).Before(cdrTime(items[len(items)-1]))
}

// cdrTime is when the call ended (or started, without an end time).
func cdrTime(r portsip.CDR) time.Time {
	if !r.EndedAt.IsZero() {
		return r.EndedAt
	}
	return r.StartedAt
}

// add records fresh CDRs (newest first) as events and moves the cursor.
func (c *CallFailures) add(fresh []portsip.CDR) {
	for i := len(fresh) - 1; i >= 0; i-- {
		r := fresh[i]
		at := cdrTime(r)
		ev := callEvent{At: at, Code: r.StatusCode, Scope: cdrScope(r)}
		ev.Failed = r.StatusCode >= 400 && !c.advice(r.StatusCode).Benign
		if ev.Failed {
			num := r.Callee
			if num == "" {
				num = r.Destination
			}
			if r.Direction == "INBOUND_CALL" && r.Caller != "" {
				num = r.Caller
			}
			ev.Number = maskNumber(num, c.cfg.UnmaskedDigits)
		}
		c.cur.Events = append(c.cur.Events, ev)
		switch {
		case at.After(c.cur.At):
			c.cur.At, c.cur.IDs = at, []string{r.ID}
		case at.Equal(c.cur.At) && r.ID != "":
			c.cur.IDs = append(c.cur.IDs, r.ID)
		}
	}
	ev := c.cur.Events
	byTime := func(a, b callEvent) int { return a.At.Compare(b.At) }
	if !slices.IsSortedFunc(ev, byTime) {
		slices.SortStableFunc(ev, byTime)
	}
	if n := len(ev) - maxEvents; n > 0 {
		ev = slices.Delete(ev, 0, n)
	}
	c.cur.Events, c.cur.Version = ev, 1
}

// cdrScope names what a call's failures are grouped by: its trunk, else its
// tenant's domain.
func cdrScope(r portsip.CDR) string {
	switch {
	case r.Trunk != "":
		return fmt.Sprintf("trunk %q", r.Trunk)
	case r.CalleeDomain != "":
		return fmt.Sprintf("tenant %q", r.CalleeDomain)
	case r.CallerDomain != "":
		return fmt.Sprintf("tenant %q", r.CallerDomain)
	}
	return "calls without trunk or tenant"
}

// prune drops events older than from.
func (c *CallFailures) prune(from time.Time) {
	ev := c.cur.Events
	i := sort.Search(len(ev), func(i int) bool { return !ev[i].At.Before(from) })
	c.cur.Events = slices.Delete(ev, 0, i)
}

// bursts groups the window's failures and returns those over a threshold,
// largest first; failed receives the number of failed calls.
func (c *CallFailures) bursts(failed *int) []Burst {
	calls := map[string]int{}
	groups := map[string]*Burst{}
	for _, e := range c.cur.Events {
		calls[e.Scope]++
		if !e.Failed {
			continue
		}
		*failed++
		k := fmt.Sprintf("%s|%d", e.Scope, e.Code)
		b := groups[k]
		if b == nil {
			b = &Burst{Scope: e.Scope, Code: e.Code, Title: c.advice(e.Code).Title}
			groups[k] = b
		}
		b.Failed++
		if len(b.Examples) < maxExamples && e.Number != "" && !slices.Contains(b.Examples, e.Number) {
			b.Examples = append(b.Examples, e.Number)
		}
	}
	var out []Burst
	for _, b := range groups {
		b.Calls = calls[b.Scope]
		byCount := b.Failed >= c.cfg.MinFailures
		byShare := b.Calls >= max(c.cfg.MinCalls, 1) && percent(b.Failed, b.Calls) >= c.cfg.MinPercent
		if byCount || byShare {
			out = append(out, *b)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Failed != out[j].Failed {
			return out[i].Failed > out[j].Failed
		}
		return out[i].Scope+fmt.Sprint(out[i].Code) < out[j].Scope+fmt.Sprint(out[j].Code)
	})
	return out
}
