package collectors

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pbxagent/pbxagent/portsip"
)

// Trunk states beyond the API's ONLINE and OFFLINE.
const (
	trunkDisabled  = "DISABLED"
	trunkUnchecked = "UNCHECKED"
)

// maxTrunkMetrics is the number of trunks up to which every trunk gets a
// trunk_up metric; beyond it only the offline ones do.
const maxTrunkMetrics = 50

// Trunks watches the SIP trunks: GET /providers, then
// /providers/{id}/status for each enabled one. PortSIP sends no mail when a
// trunk goes offline, which is how most outages reach the administrator:
// from users whose calls fail.
//
// At most maxStatus status requests are sent per round; a PBX with more
// trunks has them checked in turn, the others keeping their last state.
type Trunks struct {
	client    *portsip.Client
	maxStatus int

	mu   sync.Mutex
	next int               // first trunk to check next round
	last map[string]string // trunk ID → last status seen
}

// NewTrunks returns the trunk check; maxStatus < 1 means 300.
func NewTrunks(client *portsip.Client, maxStatus int) *Trunks {
	if maxStatus < 1 {
		maxStatus = 300
	}
	return &Trunks{client: client, maxStatus: maxStatus, last: map[string]string{}}
}

// TrunkState is one trunk's state.
type TrunkState struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	// Stale is set when the status is the last one seen, not checked this
	// round (more trunks than status requests per round).
	Stale bool `json:"stale,omitempty"`
}

// TrunksData is the trunks check's Data.
type TrunksData struct {
	Trunks   []TrunkState `json:"trunks"`
	Online   int          `json:"online"`
	Offline  []string     `json:"offline,omitempty"`
	Disabled int          `json:"disabled"`
	// Requests is the number of API requests of this round.
	Requests int `json:"requests"`
}

// Collect lists the trunks and reads their status.
func (t *Trunks) Collect(ctx context.Context) (*Report, error) {
	if err := apiNotApplicable(t.client, "the trunks"); err != nil {
		return nil, err
	}
	before := t.client.Requests()
	list, err := t.client.Providers(ctx)
	if err != nil {
		return nil, apiError(err, "the trunks")
	}
	if len(list) == 0 {
		return nil, noData("the PBX has no trunks")
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	states := make([]TrunkState, len(list))
	var enabled []int
	for i, tr := range list {
		states[i] = TrunkState{ID: tr.ID, Name: tr.Name, Status: trunkDisabled}
		if tr.Enabled {
			enabled = append(enabled, i)
		}
	}
	t.mu.Lock()
	start, last := t.next, t.last
	t.mu.Unlock()
	n := min(len(enabled), t.maxStatus)
	seen := map[string]string{}
	for k := range len(enabled) {
		i := enabled[(start+k)%len(enabled)]
		s := &states[i]
		if k >= n {
			s.Status, s.Stale = last[s.ID], true
			if s.Status == "" {
				s.Status = trunkUnchecked
			}
			continue
		}
		st, err := t.client.ProviderStatus(ctx, s.ID)
		if err != nil {
			return nil, apiError(err, fmt.Sprintf("the status of trunk %q", s.Name))
		}
		s.Status = st
	}
	for _, s := range states {
		if s.Status != trunkDisabled && s.Status != trunkUnchecked {
			seen[s.ID] = s.Status
		}
	}
	t.mu.Lock()
	t.next, t.last = (start+n)%max(len(enabled), 1), seen
	t.mu.Unlock()
	return t.report(states, int(t.client.Requests()-before)), nil
}

func (t *Trunks) report(states []TrunkState, requests int) *Report {
	d := TrunksData{Trunks: states, Requests: requests}
	metrics := make([]Metric, 0, len(states)+3)
	for _, s := range states {
		switch s.Status {
		case "ONLINE":
			d.Online++
		case trunkDisabled:
			d.Disabled++
			continue
		case trunkUnchecked:
			continue
		default:
			d.Offline = append(d.Offline, s.Name)
		}
		up := 0.0
		if s.Status == "ONLINE" {
			up = 1
		}
		if up == 1 && len(states) > maxTrunkMetrics {
			continue // the counts below cover them; alert mails list every metric
		}
		metrics = append(metrics, Metric{Name: "trunk_up", Value: up, Label: map[string]string{"trunk": s.Name}})
	}
	metrics = append(metrics,
		Metric{Name: "trunks_online", Value: float64(d.Online)},
		Metric{Name: "trunks_offline", Value: float64(len(d.Offline))},
		Metric{Name: "trunks_api_requests", Value: float64(requests)})
	rep := &Report{State: StateOK, Data: d, Metrics: metrics, Text: trunksText(states), Items: trunkItems(states)}
	switch {
	case len(d.Offline) == 0:
		rep.Summary = fmt.Sprintf("%d %s online", d.Online, ipPlural(d.Online, "trunk", "trunks"))
	default:
		rep.State = StateCritical
		rep.Summary = fmt.Sprintf("%s OFFLINE: %s (%d online)", ipPlural(len(d.Offline), "trunk", "trunks"), quoteList(d.Offline, 5), d.Online)
		rep.Advice = "Calls over an offline trunk fail. In the web portal open Call Manager > Trunks and check the trunk's registration; " +
			"check that the provider's host and port are reachable from the PBX (DNS, firewall, NAT) and that the trunk's credentials are still valid; " +
			"callmanager.log shows the provider's answers to REGISTER and OPTIONS (401/403 wrong credentials, 408 no answer). " +
			"A support bundle (pbxagent bundle --duration 60s) captures the SIP exchange with the provider."
	}
	if d.Disabled > 0 {
		rep.Summary += fmt.Sprintf(", %d disabled", d.Disabled)
	}
	if n := t.maxStatus; len(states)-d.Disabled > n {
		rep.Summary += fmt.Sprintf(" (%d of %d checked this round, in turn)", n, len(states)-d.Disabled)
	}
	return rep
}

// trunkItems are the trunks one by one, for alerts per trunk: OFFLINE (or
// any other status than ONLINE) is critical, a disabled trunk is OK, one not
// checked yet keeps its alert state.
func trunkItems(states []TrunkState) []Item {
	items := make([]Item, len(states))
	for i, s := range states {
		it := Item{ID: s.Name, Label: "Trunk " + s.Name, State: StateOK, Status: s.Status}
		switch s.Status {
		case "ONLINE", trunkDisabled:
		case trunkUnchecked:
			it.Unchecked = true
		default:
			it.State = StateCritical
		}
		it.Summary = fmt.Sprintf("trunk %q is %s", s.Name, s.Status)
		if s.Stale {
			it.Summary += " (last seen; checked in turn)"
		}
		items[i] = it
	}
	return items
}

// quoteList renders up to limit names as "a", "b" and N more.
func quoteList(names []string, limit int) string {
	q := make([]string, 0, limit+1)
	for i, n := range names {
		if i == limit {
			q = append(q, fmt.Sprintf("and %d more", len(names)-limit))
			break
		}
		q = append(q, fmt.Sprintf("%q", n))
	}
	return strings.Join(q, ", ")
}

func trunksText(states []TrunkState) string {
	rows := [][]string{{"TRUNK", "STATUS", "ID"}}
	for _, s := range states {
		st := s.Status
		if s.Stale {
			st += " (last seen)"
		}
		rows = append(rows, []string{s.Name, st, s.ID})
	}
	return textTable(rows)
}
