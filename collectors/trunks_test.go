package collectors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/portsiptest"
	"github.com/pbxagent/pbxagent/portsip"
)

// fastClient is an API client of f that is paced fast enough for tests.
func fastClient(t *testing.T, f *portsiptest.Server, pass, stateDir string) *portsip.Client {
	return apiClient(t, f.URL, pass, stateDir, nil, portsip.WithRate(5000))
}

func setTrunk(f *portsiptest.Server, name, status string) {
	f.Set(func(st *portsiptest.State) {
		for i := range st.Trunks {
			if st.Trunks[i].Name == name {
				st.Trunks[i].Status = status
			}
		}
	})
}

func TestTrunksOnlineOfflineOnline(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) {
		st.Trunks = []portsiptest.Trunk{{ID: "1", Name: "carrier-a", Status: "ONLINE"}, {ID: "2", Name: "carrier-b", Status: "ONLINE"}}
	})
	tr := NewTrunks(fastClient(t, f, apiPass, ""), 0)
	rep := collectReport(t, tr)
	if rep.State != StateOK || rep.Summary != "2 trunks online" {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	setTrunk(f, "carrier-a", "OFFLINE")
	rep = collectReport(t, tr)
	if rep.State != StateCritical || !strings.Contains(rep.Summary, `"carrier-a"`) || strings.Contains(rep.Summary, "carrier-b") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	if !strings.Contains(rep.Text, "carrier-a") || !strings.Contains(rep.Text, "OFFLINE") {
		t.Errorf("bundle text %q", rep.Text)
	}
	if up, _ := metric(rep, "trunks_offline"); up != 1 {
		t.Errorf("trunks_offline = %v", up)
	}
	want := []Item{
		{ID: "carrier-a", Label: "Trunk carrier-a", State: StateCritical, Status: "OFFLINE", Summary: `trunk "carrier-a" is OFFLINE`},
		{ID: "carrier-b", Label: "Trunk carrier-b", State: StateOK, Status: "ONLINE", Summary: `trunk "carrier-b" is ONLINE`},
	}
	if fmt.Sprint(rep.Items) != fmt.Sprint(want) {
		t.Errorf("items %+v, want %+v", rep.Items, want)
	}
	setTrunk(f, "carrier-a", "ONLINE")
	if rep = collectReport(t, tr); rep.State != StateOK {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
}

// TestTrunksManyBoundedRequests: 2,000 trunks cost 20 list pages and at most
// max_status_per_round status requests a round; every trunk is checked
// within a few rounds and an offline one is found.
func TestTrunksManyBoundedRequests(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) {
		for i := range 2000 {
			st.Trunks = append(st.Trunks, portsiptest.Trunk{ID: fmt.Sprint(i), Name: fmt.Sprintf("trunk-%04d", i), Status: "ONLINE"})
		}
		st.Trunks[1999].Status = "OFFLINE"
	})
	c := fastClient(t, f, apiPass, "")
	tr := NewTrunks(c, 300)
	var found bool
	logins := 0
	for round := 1; round <= 7; round++ {
		f.ResetCounts()
		rep := collectReport(t, tr)
		n := f.Count()
		logins += n.Logins
		t.Logf("round %d: %d requests (%d list pages, %d status)", round, n.Auth, n.Routes[portsiptest.RouteProviders], n.Routes[portsiptest.RouteProviderStatus])
		if n.Routes[portsiptest.RouteProviders] != 20 || n.Routes[portsiptest.RouteProviderStatus] != 300 || n.Auth != 320 {
			t.Fatalf("round %d: %+v", round, n.Routes)
		}
		if d := rep.Data.(TrunksData); d.Requests != 320 {
			t.Errorf("reported %d requests", d.Requests)
		}
		found = found || rep.State == StateCritical && strings.Contains(rep.Summary, "trunk-1999")
	}
	if !found {
		t.Fatal("the offline trunk was not found within 7 rounds of 300")
	}
	if logins != 1 {
		t.Errorf("%d logins; one token serves every round", logins)
	}
}

// TestAPIChecksNoCredentials: without credentials no check sends a request
// to an authenticated endpoint, and each says why it is not applicable.
func TestAPIChecksNoCredentials(t *testing.T) {
	f := portsiptest.New(t)
	c := apiClient(t, f.URL, "", t.TempDir(), nil)
	for _, ch := range apiChecks(c, "") {
		_, err := ch.Collector.Collect(context.Background())
		if !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "api.username and api.password") {
			t.Errorf("%s: %v", ch.Name, err)
		}
	}
	if n := f.Count(); n.Total != 0 {
		t.Fatalf("%+v requests without credentials", n)
	}
}

// TestAPIChecksRejectedPasswordOneLogin: a rejected password is sent once,
// whatever the number of checks, rounds and restarts.
func TestAPIChecksRejectedPasswordOneLogin(t *testing.T) {
	f := portsiptest.New(t)
	dir := t.TempDir()
	for restart := range 3 {
		c := apiClient(t, f.URL, apiBadPass, dir, nil)
		checks := apiChecks(c, dir)
		for range 3 {
			for _, o := range Run(context.Background(), checks, 10*time.Second) {
				if !o.NoData || !strings.Contains(o.Error, "rejected") {
					t.Errorf("restart %d: %s: %+v", restart, o.Name, o)
				}
			}
		}
	}
	if n := f.Count(); n.Logins != 1 || n.Auth != 0 {
		t.Fatalf("%d login attempts, %d authenticated requests; want 1 and 0", n.Logins, n.Auth)
	}
}

// TestAPIChecksNotSupported: a PBX without the endpoints makes every check
// "not applicable" with the reason, not an error.
func TestAPIChecksNotSupported(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) {
		st.Missing = map[string]bool{}
		for _, r := range []string{portsiptest.RouteAdminStatus, portsiptest.RouteProviders, portsiptest.RouteMediaServers, portsiptest.RouteTransports, portsiptest.RouteCDRs} {
			st.Missing[r] = true
		}
	})
	c := fastClient(t, f, apiPass, "")
	for _, ch := range apiChecks(c, t.TempDir()) {
		_, err := ch.Collector.Collect(context.Background())
		if !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "PBX version") {
			t.Errorf("%s: %v", ch.Name, err)
		}
	}
}

// TestAPIChecksForbidden: a user without the permission (a tenant user)
// makes the checks "not applicable", naming the fix.
func TestAPIChecksForbidden(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) {
		st.Fail = map[string]int{}
		for _, r := range []string{portsiptest.RouteAdminStatus, portsiptest.RouteProviders, portsiptest.RouteMediaServers, portsiptest.RouteTransports, portsiptest.RouteCDRs} {
			st.Fail[r] = 403
		}
	})
	c := fastClient(t, f, apiPass, "")
	for _, ch := range apiChecks(c, t.TempDir()) {
		_, err := ch.Collector.Collect(context.Background())
		if !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "system administrator") {
			t.Errorf("%s: %v", ch.Name, err)
		}
	}
}

func apiChecks(c *portsip.Client, dir string) []Named {
	d := config.Default().Checks
	return []Named{
		{Name: "trunks", Collector: NewTrunks(c, 0)},
		{Name: "licence", Collector: NewLicence(c, d.Licence, nil)},
		{Name: "media", Collector: NewMedia(c, d.Media)},
		{Name: "call_failures", Collector: NewCallFailures(c, d.CallFailures, dir, nil, nil)},
	}
}
