package collectors

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/portsip"
)

// Licence watches GET /admin/status: current calls against the licence's
// max_concurrent_calls, users against licensed_users, and the maintenance
// expiry. PortSIP mails when the licence limit is reached; this warns
// before, and when the PBX answers calls with the guide's 403 "the current
// usage exceeds the PortSIP PBX license" it gives the numbers.
type Licence struct {
	client *portsip.Client
	cfg    config.LicenceCheck
	now    func() time.Time
}

// NewLicence returns the licence and capacity check; now nil is time.Now.
func NewLicence(client *portsip.Client, cfg config.LicenceCheck, now func() time.Time) *Licence {
	if now == nil {
		now = time.Now
	}
	return &Licence{client: client, cfg: cfg, now: now}
}

// LicenceData is the licence check's Data.
type LicenceData struct {
	portsip.AdminStatus
	// CallsPercent and UsersPercent of the licence in use; -1 when the
	// PBX did not say.
	CallsPercent float64 `json:"calls_percent"`
	UsersPercent float64 `json:"users_percent"`
	// MaintenanceDaysLeft until maintenance_expires_at (negative when
	// past); absent without an expiry.
	MaintenanceDaysLeft *int `json:"maintenance_days_left,omitempty"`
	// LicenceExceeded is the finding behind the guide's 403 "the current
	// usage exceeds the PortSIP PBX license": calls or users at the limit.
	LicenceExceeded bool `json:"licence_exceeded,omitempty"`
}

// Collect reads /admin/status and rates it.
func (l *Licence) Collect(ctx context.Context) (*Report, error) {
	if err := apiNotApplicable(l.client, "the licence"); err != nil {
		return nil, err
	}
	s, err := l.client.AdminStatus(ctx)
	if err != nil {
		return nil, apiError(err, "the licence")
	}
	v := &licenceVerdict{l: l, d: LicenceData{AdminStatus: *s, CallsPercent: -1, UsersPercent: -1},
		rep: &Report{State: StateOK}}
	v.rate("calls", s.CurrentCalls, s.MaxConcurrentCalls, &v.d.CallsPercent)
	v.rate("users", s.CurrentUsers, s.LicensedUsers, &v.d.UsersPercent)
	if exp := s.MaintenanceExpiresAt; !exp.IsZero() {
		v.maintenance(exp)
	}
	if len(v.parts) == 0 {
		return nil, noData("/admin/status carries neither licence limits nor a maintenance expiry")
	}
	rep := v.rep
	if s.CurrentCalls >= 0 {
		rep.Metrics = append(rep.Metrics, Metric{Name: "pbx_current_calls", Value: float64(s.CurrentCalls)})
	}
	rep.Summary = strings.Join(v.parts, ", ")
	rep.Advice = strings.Join(v.advice, "\n")
	rep.Data = v.d
	return rep, nil
}

// licenceVerdict gathers the parts of the licence check's report.
type licenceVerdict struct {
	l             *Licence
	d             LicenceData
	rep           *Report
	parts, advice []string
}

// rate judges the use n of a licensed limit and stores its percentage in
// pct; an unknown use or limit is skipped.
func (v *licenceVerdict) rate(what string, n, limit int, pct *float64) {
	if n < 0 || limit <= 0 {
		return
	}
	*pct = math.Round(percent(n, limit)*10) / 10
	v.parts = append(v.parts, fmt.Sprintf("%s %d/%d (%.0f%%)", what, n, limit, *pct))
	v.rep.Metrics = append(v.rep.Metrics, Metric{Name: "licence_" + strings.ReplaceAll(what, " ", "_") + "_ratio", Value: *pct / 100})
	st := StateOK
	switch ratio := float64(n) / float64(limit); {
	case ratio >= v.l.cfg.CriticalRatio:
		st = StateCritical
	case ratio >= v.l.cfg.WarningRatio:
		st = StateWarning
	}
	if n >= limit {
		v.d.LicenceExceeded = true
	}
	if st > StateOK {
		v.advice = append(v.advice, fmt.Sprintf("%s at %.0f%% of the licence (%d of %d): the PBX refuses more with 403 \"the current usage exceeds the PortSIP PBX license\"; "+
			"buy a larger licence or reduce the load before users notice.", what, *pct, n, limit))
	}
	v.rep.State = max(v.rep.State, st)
}

// maintenance judges the time left until the maintenance expires at exp.
func (v *licenceVerdict) maintenance(exp time.Time) {
	left := exp.Sub(v.l.now())
	days := int(math.Floor(left.Hours() / 24))
	v.d.MaintenanceDaysLeft = &days
	v.rep.Metrics = append(v.rep.Metrics, Metric{Name: "licence_maintenance_expiry_timestamp_seconds", Value: float64(exp.Unix()), Unit: "s"})
	st := StateOK
	switch {
	case left <= v.l.cfg.ExpiryCritical.D():
		st = StateCritical
	case left <= v.l.cfg.ExpiryWarning.D():
		st = StateWarning
	}
	when := fmt.Sprintf("maintenance expires %s (in %d %s)", exp.UTC().Format(time.DateOnly), days, ipPlural(days, "day", "days"))
	if left < 0 {
		when = fmt.Sprintf("maintenance EXPIRED %s (%d days ago)", exp.UTC().Format(time.DateOnly), -days)
	}
	v.parts = append(v.parts, when)
	if st > StateOK {
		v.advice = append(v.advice, "Renew the PortSIP maintenance/licence with PortSIP or your reseller before "+exp.UTC().Format(time.DateOnly)+
			"; without it updates and support end.")
	}
	v.rep.State = max(v.rep.State, st)
}
