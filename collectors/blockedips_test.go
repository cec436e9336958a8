package collectors

import (
	"context"
	"errors"
	"github.com/pbxagent/pbxagent/internal/portsiptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/portsip"
)

// blockedNow is the clock of the blocked_ips tests.
var blockedNow = time.Date(2025, 6, 1, 13, 5, 0, 0, time.UTC)

func fixedNow() time.Time { return blockedNow }

func adminNets(t *testing.T, specs ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range specs {
		p, err := config.ParseNetwork(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func TestBlockedIPsNoCredentials(t *testing.T) {
	f := portsiptest.New(t)
	c, err := portsip.NewClient(f.URL, "", "", true, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*BlockedIPs{NewBlockedIPs(c, nil, nil), NewBlockedIPs(nil, nil, nil)} {
		_, err := b.Collect(context.Background())
		if !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "set api.username and api.password to watch the IP blacklist") {
			t.Fatalf("err = %v", err)
		}
	}
	if n := f.Count().Total; n != 0 {
		t.Fatalf("%d requests", n)
	}
}

func TestBlockedIPsBaselineAndNew(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) {
		st.Filters = []map[string]any{
			{"id": 1, "cidr": "203.0.113.9", "target": "DENY", "expire_at": "2025-06-01T14:05:00Z", "description": "SIP auth failures"},
			{"id": 2, "cidr": "192.0.2.0/24", "target": "DENY", "expire_at": 0},
			{"id": 3, "cidr": "10.0.0.0/8", "target": "ACCEPT"},
			{"id": 4, "cidr": "198.51.100.7", "target": "DENY", "expire_at": "2025-06-01T12:00:00Z"}, // expired
		}
	})
	b := NewBlockedIPs(apiClient(t, f.URL, apiPass, t.TempDir(), nil), adminNets(t, "198.51.100.7"), fixedNow)

	rep := collectReport(t, b)
	d := rep.Data.(BlockedIPsData)
	if rep.State != StateOK || len(d.Denied) != 2 || len(d.New) != 0 || !d.Baseline || d.Accepted != 1 || d.Expired != 1 {
		t.Fatalf("first run: %v %q %+v", rep.State, rep.Summary, d)
	}
	if !strings.Contains(rep.Summary, "2 IP addresses blocked") || !strings.Contains(rep.Summary, "baseline") {
		t.Errorf("summary %q", rep.Summary)
	}
	if d.Denied[0].CIDR != "203.0.113.9" || d.Denied[1].CIDR != "192.0.2.0/24" {
		t.Errorf("order %+v", d.Denied)
	}

	// Second run: one more entry.
	f.Set(func(st *portsiptest.State) {
		st.Filters = append(st.Filters, map[string]any{"id": 5, "cidr": "203.0.113.77", "target": "DENY", "expire_at": "2025-06-02T09:30:00Z"})
	})
	rep = collectReport(t, b)
	d = rep.Data.(BlockedIPsData)
	if rep.State != StateOK || len(d.New) != 1 || d.New[0].CIDR != "203.0.113.77" || d.Baseline {
		t.Fatalf("second run: %v %q %+v", rep.State, rep.Summary, d)
	}
	if !strings.Contains(rep.Summary, "1 new: 203.0.113.77 until 2025-06-02 09:30") {
		t.Errorf("summary %q", rep.Summary)
	}
	if n, _ := metric(rep, "blocked_ips_new"); n != 1 {
		t.Errorf("blocked_ips_new = %v", n)
	}
	if !strings.Contains(rep.Text, "+ 203.0.113.77") {
		t.Errorf("text %q", rep.Text)
	}

	// Third run: nothing new.
	rep = collectReport(t, b)
	if d := rep.Data.(BlockedIPsData); len(d.New) != 0 || len(d.Denied) != 3 {
		t.Fatalf("third run: %+v", d)
	}
	if n := f.Count().Logins; n != 1 {
		t.Errorf("%d logins for three checks", n)
	}
}

func TestBlockedIPsAdminBlocked(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) {
		st.Filters = []map[string]any{
			{"id": 7, "cidr": "198.51.100.7/32", "target": "DENY", "expire_at": "2025-06-01T14:05:00Z"},
			{"id": 8, "cidr": "203.0.113.9", "target": "DENY", "expire_at": "2025-06-01T14:05:00Z"},
		}
	})
	b := NewBlockedIPs(apiClient(t, f.URL, apiPass, t.TempDir(), nil), adminNets(t, "198.51.100.0/24", "2001:db8::/32"), fixedNow)
	rep := collectReport(t, b)
	want := "the administrators' address 198.51.100.7 is blocked until 14:05 — the portal shows DENIED; log in from another network and remove it from IP Blacklist, or wait"
	if rep.State != StateCritical || rep.Summary != want {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	if !strings.Contains(rep.Advice, "IP Blacklist") {
		t.Errorf("advice %q", rep.Advice)
	}
	if n, _ := metric(rep, "blocked_ips_admin"); n != 1 {
		t.Errorf("blocked_ips_admin = %v", n)
	}

	// Once the entry expires it is ignored.
	expired := NewBlockedIPs(apiClient(t, f.URL, apiPass, t.TempDir(), nil), adminNets(t, "198.51.100.7"),
		func() time.Time { return blockedNow.Add(2 * time.Hour) })
	if rep := collectReport(t, expired); rep.State != StateOK {
		t.Fatalf("after expiry: %v %q", rep.State, rep.Summary)
	}
}

func TestBlockedIPsCredentialsRejected(t *testing.T) {
	f := portsiptest.New(t)
	dir := t.TempDir()
	logs := &syncBuffer{}
	var texts []string
	for restart := range 2 {
		b := NewBlockedIPs(apiClient(t, f.URL, apiBadPass, dir, logs), nil, fixedNow)
		for range 5 {
			rep := collectReport(t, b)
			if rep.State != StateCritical || rep.Summary != credentialsRejectedSummary {
				t.Fatalf("restart %d: %v %q", restart, rep.State, rep.Summary)
			}
			if d := rep.Data.(BlockedIPsData); !d.CredentialsRejected {
				t.Errorf("data %+v", d)
			}
			raw, _ := rep.Data.(BlockedIPsData)
			texts = append(texts, rep.Summary, rep.Advice, rep.Text, raw.Error)
		}
	}
	if n := f.Count().Logins; n != 1 {
		t.Fatalf("%d login attempts with a wrong password across 10 checks and a restart, want 1", n)
	}
	if n := f.Count().Total; n != 1 {
		t.Fatalf("%d requests, want only the one login", n)
	}
	if _, err := os.Stat(filepath.Join(dir, portsip.RejectedMarkerFile)); err != nil {
		t.Fatalf("marker: %v", err)
	}

	// The password is corrected: the check logs in again.
	b := NewBlockedIPs(apiClient(t, f.URL, apiPass, dir, logs), nil, fixedNow)
	if rep := collectReport(t, b); rep.State != StateOK {
		t.Fatalf("after the fix: %v %q", rep.State, rep.Summary)
	}
	if n := f.Count().Logins; n != 2 {
		t.Fatalf("%d logins", n)
	}

	texts = append(texts, logs.String())
	for _, txt := range texts {
		for _, secret := range append(f.Secrets(), apiBadPass, "Bearer ") {
			if strings.Contains(txt, secret) {
				t.Errorf("%q leaked into %q", secret, txt)
			}
		}
	}
}

func TestBlockedIPsAPIFailure(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) { st.Fail = map[string]int{portsiptest.RouteIPFilters: 500} })
	b := NewBlockedIPs(apiClient(t, f.URL, apiPass, t.TempDir(), nil), nil, fixedNow)
	_, err := b.Collect(context.Background())
	if err == nil || errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "500") {
		t.Fatalf("err = %v", err)
	}
	// A failed run does not count as the baseline.
	f.Set(func(st *portsiptest.State) {
		st.Fail = nil
		st.Filters = []map[string]any{{"id": 1, "cidr": "203.0.113.9", "target": "DENY"}}
	})
	rep := collectReport(t, b)
	if d := rep.Data.(BlockedIPsData); !d.Baseline || len(d.New) != 0 {
		t.Fatalf("%+v", d)
	}
	if !strings.Contains(rep.Text, "with no expiry") {
		t.Errorf("text %q", rep.Text)
	}
}
