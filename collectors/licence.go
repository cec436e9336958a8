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
	d := LicenceData{AdminStatus: *s, CallsPercent: -1, UsersPercent: -1}
	rep := &Report{State: StateOK, Data: d}
	var parts, advice []string
	rate := func(what string, n, limit int, pct *float64) {
		if n < 0 || limit <= 0 {
			return
		}
		*pct = math.Round(percent(n, limit)*10) / 10
		parts = append(parts, fmt.Sprintf("%s %d/%d (%.0f%%)", what, n, limit, *pct))
		rep.Metrics = append(rep.Metrics, Metric{Name: "licence_" + strings.ReplaceAll(what, " ", "_") + "_ratio", Value: *pct / 100})
		st := StateOK
		switch ratio := float64(n) / float64(limit); {
		case ratio >= l.cfg.CriticalRatio:
			st = StateCritical
		case ratio >= l.cfg.WarningRatio:
			st = StateWarning
		}
		if n >= limit {
			d.LicenceExceeded = true
		}
		if st > StateOK {
			advice = append(advice, fmt.Sprintf("%s at %.0f%% of the licence (%d of %d): the PBX refuses more with 403 \"the current usage exceeds the PortSIP PBX license\"; "+
				"buy a larger licence or reduce the load before users notice.", what, *pct, n, limit))
		}
		rep.State = max(rep.State, st)
	}
	rate("calls", s.CurrentCalls, s.MaxConcurrentCalls, &d.CallsPercent)
	rate("users", s.CurrentUsers, s.LicensedUsers, &d.UsersPercent)
	if exp := s.MaintenanceExpiresAt; !exp.IsZero() {
		left := exp.Sub(l.now())
		days := int(math.Floor(left.Hours() / 24))
		d.MaintenanceDaysLeft = &days
		rep.Metrics = append(rep.Metrics, Metric{Name: "licence_maintenance_expiry_timestamp_seconds", Value: float64(exp.Unix()), Unit: "s"})
		st := StateOK
		switch {
		case left <= l.cfg.ExpiryCritical.D():
			st = StateCritical
		case left <= l.cfg.ExpiryWarning.D():
			st = StateWarning
		}
		when := fmt.Sprintf("maintenance expires %s (in %d %s)", exp.UTC().Format(time.DateOnly), days, ipPlural(days, "day", "days"))
		if left < 0 {
			when = fmt.Sprintf("maintenance EXPIRED %s (%d days ago)", exp.UTC().Format(time.DateOnly), -days)
		}
		parts = append(parts, when)
		if st > StateOK {
			advice = append(advice, "Renew the PortSIP maintenance/licence with PortSIP or your reseller before "+exp.UTC().Format(time.DateOnly)+
				"; without it updates and support end.")
		}
		rep.State = max(rep.State, st)
	}
	if len(parts) == 0 {
		return nil, noData("/admin/status carries neither licence limits nor a maintenance expiry")
	}
	if s.CurrentCalls >= 0 {
		rep.Metrics = append(rep.Metrics, Metric{Name: "pbx_current_calls", Value: float64(s.CurrentCalls)})
	}
	rep.Summary = strings.Join(parts, ", ")
	rep.Advice = strings.Join(advice, "\n")
	rep.Data = d
	return rep, nil
}
