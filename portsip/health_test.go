package portsip

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/internal/portsiptest"
)

func TestAdminStatusAndLists(t *testing.T) {
	f := portsiptest.New(t)
	exp := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Set(func(st *portsiptest.State) {
		st.AdminStatus = map[string]any{"version": "22.3.1", "maintenance_expires_at": exp.Format(time.RFC3339),
			"max_concurrent_calls": 100, "current_calls": "42", "licensed_users": 50}
		for i := range 250 {
			st.Trunks = append(st.Trunks, portsiptest.Trunk{ID: fmt.Sprint(i), Name: fmt.Sprintf("trunk-%d", i), Status: "ONLINE"})
		}
		st.Media = []portsiptest.MediaServer{{ID: "m1", Name: "ms", Status: "OFFLINE", CPU: 97}}
		st.Transports = []portsiptest.Transport{{ID: "t1", Protocol: "tls", Port: 5061, Status: "DEACTIVATED"}}
	})
	c := newTestClient(t, f, testPass, "", &logBuffer{})
	ctx := ctxT(t)
	s, err := c.AdminStatus(ctx)
	if err != nil || !s.MaintenanceExpiresAt.Equal(exp) || s.CurrentCalls != 42 || s.MaxConcurrentCalls != 100 || s.CurrentUsers != -1 {
		t.Fatalf("%+v %v", s, err)
	}
	trunks, err := c.Providers(ctx)
	if err != nil || len(trunks) != 250 || trunks[249].Name != "trunk-249" {
		t.Fatalf("%d trunks, %v", len(trunks), err)
	}
	if n := f.Count().Routes[portsiptest.RouteProviders]; n != 3 {
		t.Errorf("%d pages for 250 trunks, want 3", n)
	}
	if st, err := c.ProviderStatus(ctx, "7"); st != "ONLINE" || err != nil {
		t.Errorf("%q %v", st, err)
	}
	ms, _ := c.MediaServers(ctx)
	mst, err := c.MediaServerStatus(ctx, ms[0].ID)
	if err != nil || mst.Status != "OFFLINE" || mst.CPU != 97 {
		t.Errorf("%+v %v", mst, err)
	}
	tr, _ := c.Transports(ctx)
	if st, err := c.TransportStatus(ctx, tr[0].ID); st != "DEACTIVATED" || tr[0].Protocol != "TLS" || err != nil {
		t.Errorf("%q %+v %v", st, tr, err)
	}
	if n := c.Requests(); n != int64(f.Count().Auth) {
		t.Errorf("client counted %d requests, server %d", n, f.Count().Auth)
	}
}

func TestNotSupportedAndRateLimit(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) {
		st.Missing = map[string]bool{portsiptest.RouteAdminStatus: true}
		st.RateLimit, st.RateWindow, st.RetryAfter = 2, time.Second, time.Second
	})
	c := newTestClient(t, f, testPass, "", &logBuffer{})
	if _, err := c.AdminStatus(ctxT(t)); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("err = %v", err)
	}
	// Five requests against two a second: the 429s are waited out.
	for i := range 5 {
		if _, err := c.Providers(ctxT(t)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	cnt := f.Count()
	if cnt.RateLimited == 0 || cnt.Routes[portsiptest.RouteProviders] != 5+cnt.RateLimited {
		t.Fatalf("%+v", cnt)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, c := range []struct {
		h       string
		attempt int
		want    time.Duration
	}{{"3", 1, 3 * time.Second}, {"", 1, time.Second}, {"", 3, 4 * time.Second}, {"9999", 1, time.Minute}, {"0", 1, 100 * time.Millisecond}} {
		if got := retryAfter(c.h, c.attempt); got != c.want {
			t.Errorf("retryAfter(%q, %d) = %v, want %v", c.h, c.attempt, got, c.want)
		}
	}
}

// TestPacingStaysUnderTheGatewayLimit: requests paced at 20 a second never
// meet a gateway that allows 30 a second, where unpaced ones would.
func TestPacingStaysUnderTheGatewayLimit(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) {
		st.Trunks = []portsiptest.Trunk{{ID: "1", Name: "a", Status: "ONLINE"}}
		st.RateLimit, st.RateWindow = 30, time.Second
	})
	c := newTestClient(t, f, testPass, "", &logBuffer{}, WithRate(20))
	for range 60 {
		if _, err := c.ProviderStatus(ctxT(t), "1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.Count(); n.RateLimited != 0 || n.Routes[portsiptest.RouteProviderStatus] != 60 {
		t.Fatalf("paced: %+v", n)
	}
	// The same burst unpaced meets the limit: the test can fail.
	u := newTestClient(t, f, testPass, "", &logBuffer{}, WithRate(1e6))
	for range 60 {
		if _, err := u.ProviderStatus(ctxT(t), "1"); err != nil {
			t.Fatal(err)
		}
	}
	if f.Count().RateLimited == 0 {
		t.Fatal("an unpaced burst was never limited; the pacing test proves nothing")
	}
}
