package collectors

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/portsip"
)

// credentialsRejectedSummary is the blocked_ips summary once the PBX has
// refused the agent's API login.
const credentialsRejectedSummary = "agent credentials rejected by the PBX API; not retrying until api.username/api.password change (5 failures would block this host's IP for an hour)"

// BlockedIPs watches the PBX's IP blacklist through the REST API: the DENY
// entries in force, which of them are new since the previous check, and
// whether one of them blocks the administrators' own network — the "the
// client IP address x.x.x.x has been blocked until ... (DENIED)" of PortSIP's
// troubleshooting guide.
type BlockedIPs struct {
	client *portsip.Client
	admin  []netip.Prefix
	now    func() time.Time

	mu       sync.Mutex
	previous map[string]bool // keys of the previous run; nil before the first
	rejected error           // set once the PBX rejected the credentials
}

// NewBlockedIPs returns the IP blacklist check. adminNetworks are the
// administrators' addresses (config.ParseNetwork of
// checks.blocked_ips.admin_networks); now is the clock (nil: time.Now). A nil
// client, or one without credentials, makes the check report ErrNoData.
func NewBlockedIPs(client *portsip.Client, adminNetworks []netip.Prefix, now func() time.Time) *BlockedIPs {
	if now == nil {
		now = time.Now
	}
	return &BlockedIPs{client: client, admin: adminNetworks, now: now}
}

// BlockedIP is one DENY entry in force.
type BlockedIP struct {
	portsip.IPFilter
	// New is set when the entry was not there at the previous check.
	New bool `json:"new,omitempty"`
	// Admin names the administrators' network the entry covers.
	Admin string `json:"admin,omitempty"`
}

// BlockedIPsData is the blocked_ips check's Data.
type BlockedIPsData struct {
	// Denied are the DENY entries in force, soonest expiry first.
	Denied []BlockedIP `json:"denied"`
	// New are the entries of Denied added since the previous check.
	New []BlockedIP `json:"new,omitempty"`
	// AdminBlocked are the entries of Denied covering an administrators'
	// network.
	AdminBlocked []BlockedIP `json:"admin_blocked,omitempty"`
	// Baseline is set on the first check, whose entries are not "new".
	Baseline bool `json:"baseline,omitempty"`
	Accepted int  `json:"accepted"`
	Expired  int  `json:"expired"`
	// CredentialsRejected is set when the PBX refused the agent's login.
	CredentialsRejected bool   `json:"credentials_rejected,omitempty"`
	Error               string `json:"error,omitempty"`
}

// Collect reads the IP blacklist. It returns ErrNoData without API
// credentials, a CRITICAL report (without contacting the PBX again) once the
// credentials were rejected, and an error for other API failures.
func (b *BlockedIPs) Collect(ctx context.Context) (*Report, error) {
	if b.client == nil || !b.client.HasCredentials() {
		return nil, noData("set api.username and api.password to watch the IP blacklist")
	}
	b.mu.Lock()
	rejected := b.rejected
	b.mu.Unlock()
	if rejected != nil {
		return b.rejectedReport(rejected), nil
	}
	list, err := b.client.IPFilters(ctx)
	switch {
	case errors.Is(err, portsip.ErrCredentialsRejected):
		b.mu.Lock()
		b.rejected = err
		b.mu.Unlock()
		return b.rejectedReport(err), nil
	case errors.Is(err, portsip.ErrNoCredentials):
		return nil, noData("set api.username and api.password to watch the IP blacklist")
	case err != nil:
		return nil, fmt.Errorf("read the IP blacklist: %w", err)
	}

	d, current := b.classify(list)
	b.mu.Lock()
	previous := b.previous
	b.previous = current
	b.mu.Unlock()
	d.markNew(previous)
	return b.report(d), nil
}

// classify counts the accepted and expired entries and lists the active
// denials, those that expire first first; current holds their keys.
func (b *BlockedIPs) classify(list []portsip.IPFilter) (d BlockedIPsData, current map[string]bool) {
	now := b.now()
	current = map[string]bool{}
	for _, f := range list {
		switch {
		case !f.Denies():
			d.Accepted++
			continue
		case !f.Active(now):
			d.Expired++
			continue
		}
		current[blockedKey(f)] = true
		d.Denied = append(d.Denied, BlockedIP{IPFilter: f, Admin: b.adminCovered(f)})
	}
	sort.SliceStable(d.Denied, func(i, j int) bool {
		a, c := d.Denied[i], d.Denied[j]
		if !a.ExpireAt.Equal(c.ExpireAt) {
			if a.ExpireAt.IsZero() || c.ExpireAt.IsZero() {
				return c.ExpireAt.IsZero()
			}
			return a.ExpireAt.Before(c.ExpireAt)
		}
		return a.CIDR < c.CIDR
	})
	return d, current
}

// markNew marks the denials not in the previous check's set (nil on the
// first check, the baseline) and lists those covering an administrator.
func (d *BlockedIPsData) markNew(previous map[string]bool) {
	d.Baseline = previous == nil
	for i := range d.Denied {
		e := &d.Denied[i]
		if previous != nil && !previous[blockedKey(e.IPFilter)] {
			e.New = true
			d.New = append(d.New, *e)
		}
		if e.Admin != "" {
			d.AdminBlocked = append(d.AdminBlocked, *e)
		}
	}
}

func (b *BlockedIPs) report(d BlockedIPsData) *Report {
	rep := &Report{State: StateOK, Data: d}
	switch {
	case len(d.AdminBlocked) > 0:
		rep.State = StateCritical
		rep.Summary = b.adminSummary(d.AdminBlocked)
		rep.Advice = "PortSIP's troubleshooting guide: \"the client IP address x.x.x.x has been blocked until [date/time] (DENIED)\" follows too many wrong passwords. " +
			"Log in to the web portal from a different IP address or network with the correct credentials, open IP Blacklist and remove the entry " +
			"(or wait until it expires). Then find who typed the wrong password — a phone, a script or a saved browser password."
	case len(d.Denied) == 0:
		rep.Summary = "no IP addresses blocked"
	default:
		rep.Summary = fmt.Sprintf("%d IP %s blocked", len(d.Denied), ipPlural(len(d.Denied), "address", "addresses"))
	}
	if len(d.AdminBlocked) == 0 {
		switch {
		case d.Baseline && len(d.Denied) > 0:
			rep.Summary += " (first check: baseline)"
		case len(d.New) > 0:
			rep.Summary += fmt.Sprintf("; %d new: %s", len(d.New), b.describe(d.New, 3))
		}
	}
	rep.Metrics = []Metric{
		{Name: "blocked_ips", Value: float64(len(d.Denied))},
		{Name: "blocked_ips_new", Value: float64(len(d.New))},
		{Name: "blocked_ips_admin", Value: float64(len(d.AdminBlocked))},
	}
	rep.Text = b.text(d)
	return rep
}

func (b *BlockedIPs) adminSummary(blocked []BlockedIP) string {
	a := blocked[0]
	s := fmt.Sprintf("the administrators' address %s is blocked %s — the portal shows DENIED; log in from another network and remove it from IP Blacklist, or wait",
		adminAddress(a), b.until(a.ExpireAt))
	if n := len(blocked) - 1; n > 0 {
		s += fmt.Sprintf(" (%d more administrators' entries blocked)", n)
	}
	return s
}

// rejectedReport is the report while the PBX rejects the credentials.
func (b *BlockedIPs) rejectedReport(err error) *Report {
	advice := "Correct api.username and api.password in the agent's configuration and restart it; the agent logs in again as soon as they change. " +
		"If the PBX password is already right and only the PBX had a problem, delete the rejected-login marker"
	if p := b.client.MarkerPath(); p != "" {
		advice += " " + p
	}
	advice += " to allow one more attempt. If this host's IP is already in IP Blacklist, remove it in the web portal from another network, or wait an hour."
	return &Report{
		State:   StateCritical,
		Summary: credentialsRejectedSummary,
		Advice:  advice,
		Data:    BlockedIPsData{CredentialsRejected: true, Error: err.Error()},
		Text:    "PBX API login rejected: " + err.Error() + "\n",
		Metrics: []Metric{{Name: "blocked_ips_credentials_rejected", Value: 1}},
	}
}

// adminCovered returns the administrators' network f covers, "" if none.
func (b *BlockedIPs) adminCovered(f portsip.IPFilter) string {
	p, ok := f.Prefix()
	if !ok {
		return ""
	}
	for _, a := range b.admin {
		if a.IsValid() && p.Overlaps(a) {
			return a.String()
		}
	}
	return ""
}

// adminAddress names the blocked administrators' address of e: the single
// address when either side is one, else the blocked range.
func adminAddress(e BlockedIP) string {
	if p, ok := e.Prefix(); ok && p.IsSingleIP() {
		return p.Addr().String()
	}
	if a, err := netip.ParsePrefix(e.Admin); err == nil && a.IsSingleIP() {
		return a.Addr().String()
	}
	return e.CIDR
}

// until renders an expiry for a summary: "until 14:05" today, "until
// 2025-06-02 14:05" otherwise, in the clock's time zone.
func (b *BlockedIPs) until(t time.Time) string {
	if t.IsZero() {
		return "with no expiry"
	}
	now := b.now()
	t = t.In(now.Location())
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return "until " + t.Format("15:04")
	}
	return "until " + t.Format("2006-01-02 15:04")
}

// describe lists up to limit entries as "203.0.113.9 until 14:05".
func (b *BlockedIPs) describe(list []BlockedIP, limit int) string {
	parts := make([]string, 0, limit+1)
	for i, e := range list {
		if i == limit {
			parts = append(parts, fmt.Sprintf("and %d more", len(list)-limit))
			break
		}
		parts = append(parts, e.CIDR+" "+b.until(e.ExpireAt))
	}
	return strings.Join(parts, ", ")
}

// text renders the blacklist for the bundle summary.
func (b *BlockedIPs) text(d BlockedIPsData) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%d blocked, %d allowed, %d expired\n", len(d.Denied), d.Accepted, d.Expired)
	for _, e := range d.Denied {
		mark := " "
		switch {
		case e.Admin != "":
			mark = "!"
		case e.New:
			mark = "+"
		}
		fmt.Fprintf(&s, "%s %-20s %-28s %s\n", mark, e.CIDR, b.until(e.ExpireAt), e.Description)
	}
	return s.String()
}

// blockedKey identifies an entry between two checks.
func blockedKey(f portsip.IPFilter) string {
	if f.ID != "" {
		return "id:" + f.ID
	}
	return f.CIDR + "|" + f.ExpireAt.UTC().Format(time.RFC3339)
}

// ipPlural picks the singular or plural word for n.
func ipPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
