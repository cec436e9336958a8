package collectors

import (
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/portsiptest"
)

func TestLicenceNearLimitsAndExpiry(t *testing.T) {
	f := portsiptest.New(t)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	f.Set(func(st *portsiptest.State) {
		st.AdminStatus = map[string]any{"version": "22.3.1", "license_type": "Enterprise",
			"maintenance_expires_at": now.Add(5*24*time.Hour + time.Hour).Format(time.RFC3339),
			"max_concurrent_calls":   100, "current_calls": 96, "licensed_users": 50, "current_users": 41}
	})
	cfg := config.Default().Checks.Licence
	l := NewLicence(fastClient(t, f, apiPass, ""), cfg, func() time.Time { return now })
	rep := collectReport(t, l)
	if rep.State != StateCritical {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	for _, want := range []string{"calls 96/100 (96%)", "users 41/50 (82%)", "maintenance expires 2026-12-09 (in 5 days)"} {
		if !strings.Contains(rep.Summary, want) {
			t.Errorf("summary lacks %q: %q", want, rep.Summary)
		}
	}
	if !strings.Contains(rep.Advice, "the current usage exceeds the PortSIP PBX license") || !strings.Contains(rep.Advice, "Renew") {
		t.Errorf("advice %q", rep.Advice)
	}
	if d := rep.Data.(LicenceData); d.LicenceExceeded || *d.MaintenanceDaysLeft != 5 {
		t.Errorf("%+v", d)
	}

	// Warning levels only, then at the limit: the guide's 403 finding.
	cases := []struct {
		calls, users int
		exp          time.Duration
		want         State
		exceeded     bool
	}{
		{50, 10, 400 * 24 * time.Hour, StateOK, false},
		{85, 10, 400 * 24 * time.Hour, StateWarning, false},
		{10, 10, 20 * 24 * time.Hour, StateWarning, false},
		{100, 10, 400 * 24 * time.Hour, StateCritical, true},
		{10, 10, -2 * 24 * time.Hour, StateCritical, false},
	}
	for _, c := range cases {
		f.Set(func(st *portsiptest.State) {
			st.AdminStatus = map[string]any{"maintenance_expires_at": now.Add(c.exp).Format(time.RFC3339),
				"max_concurrent_calls": 100, "current_calls": c.calls, "licensed_users": 50, "current_users": c.users}
		})
		rep := collectReport(t, l)
		if rep.State != c.want || rep.Data.(LicenceData).LicenceExceeded != c.exceeded {
			t.Errorf("%+v: %v %q", c, rep.State, rep.Summary)
		}
	}
}
